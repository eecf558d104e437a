//! A text indexer, as in the original `start_indexer`: the regular files
//! directly in a directory are indexed in parallel by processes started,
//! thread-style, on an [`Exchange`], and the creator merges what they send
//! into a prefix index that a `Pattern:` prompt then queries.
//!
//! ```text
//! start_indexer DIR [window] [slice] [delay] [--noprompt]
//! cargo run --example start_indexer -- /usr/share/doc/bash 4 5 0.1
//! ```
//!
//! - `DIR`: the directory; its regular files (and symbolic links to
//!   regular files) are indexed, its subdirectories and special files are
//!   not.
//! - `window`: at most this many processes run at once (default 4).
//! - `slice`: the number of files each process indexes (default 5).
//! - `delay`: seconds of simulated work per file (default 0).
//! - `--noprompt`: index, print the summary line and exit.
//!
//! Without `DIR`, the usage text is printed on standard error and the exit
//! code is 1. A `DIR` that cannot be listed is an error (exit code 1).
//!
//! # The work
//!
//! Each process gets `slice` file names and, for each file, splits it on
//! white space and keeps from each token its first run of letters and
//! digits (Unicode ones too; a token without any is skipped; case is kept).
//! A file that is not UTF-8 is read lossily: an invalid byte ends a word.
//! See [`pprocess_examples::indexer`].
//!
//! Each process sends one message, a [`Batch`]: its `(word, file)` pairs,
//! one per distinct word per file, and the files it could not read with the
//! reason. One message per process rather than one per pair: a pair is a
//! few bytes, so a frame (and a `poll` wake-up in the creator) per pair would
//! cost more than the pair; the batch is bounded by the size of the slice,
//! and the creator merges each batch while the other processes work. The
//! handler of the exchange does the merging; it also knows each task's files,
//! so a process that fails (panics, dies) is reported with the files that
//! are missing from the index, and the indexing carries on.
//!
//! # Output
//!
//! Standard output, exactly:
//!
//! ```text
//! Indexed <W> distinct words from <F> files in <T> seconds.
//! Pattern: <one line per match>
//! Pattern: <one line per match>
//! ...
//! Pattern: <newline, at the end of the input>
//! ```
//!
//! where `F` counts the files read (empty ones included). After each
//! `Pattern: ` (printed without a newline, then flushed), one query is
//! read: a line of standard input, with leading and trailing white space
//! removed. For each word that begins with the query, in sorted (byte)
//! order, one line:
//!
//! ```text
//! word: file1 file2 ...
//! ```
//!
//! with the word's files sorted, separated by single spaces, named relative
//! to `DIR` (their names in it). A query nothing begins with prints no line;
//! an empty query prints every word. The end of the input prints a newline
//! and ends the program (exit code 0). With `--noprompt` only the first
//! line is printed.
//!
//! Standard error: `start_indexer: skipping FILE: REASON` for each file that
//! could not be read, and `start_indexer: lost FILE...: ERROR` for the files
//! of a process that failed. Neither changes the exit code.

use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::builder::RangedU64ValueParser;
use clap::{CommandFactory, Parser};
use pprocess::{Channel, Exchange, Handler};
use pprocess_examples::indexer::{self, FileEntry, Index};

/// The arguments.
#[derive(Debug, Parser)]
#[command(
    name = "start_indexer",
    about = "Indexes the text files of a directory in parallel processes, then answers prefix queries",
    override_usage = "start_indexer DIR [WINDOW] [SLICE] [DELAY] [--noprompt]",
    after_long_help = "After indexing, prints `Pattern: ` and reads one query a line from\n\
        standard input; for each word that begins with the query, in sorted order,\n\
        prints `word: file1 file2 ...` (the files it occurs in, sorted, relative to\n\
        DIR). An empty query lists every word; the end of the input ends the program."
)]
struct Args {
    /// The directory whose regular files are indexed (not its
    /// subdirectories). Required.
    dir: Option<PathBuf>,

    /// The most processes to run at once.
    #[arg(default_value_t = 4, value_parser = RangedU64ValueParser::<usize>::new().range(1..=4096))]
    window: usize,

    /// The number of files each process indexes.
    #[arg(default_value_t = 5, value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    slice: usize,

    /// Seconds of simulated work per file.
    #[arg(default_value_t = 0.0, value_parser = parse_delay)]
    delay: f64,

    /// Index and exit, without the `Pattern:` prompt.
    #[arg(long)]
    noprompt: bool,
}

/// A delay in seconds: a finite number, at least 0.
fn parse_delay(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => Ok(seconds),
        _ => Err(format!("`{text}` is not a number of seconds (0 or more)")),
    }
}

/// What a process sends, once: the `(word, file)` pairs of its files (each
/// distinct word of a file once), and the `(file, reason)` of each file it
/// could not read.
type Batch = (Vec<(String, String)>, Vec<(String, String)>);

/// The work of one process: indexes `files`, waiting `delay` per file.
fn index_files(files: &[FileEntry], delay: Duration) -> Batch {
    let mut pairs = Vec::new();
    let mut unreadable = Vec::new();
    for file in files {
        std::thread::sleep(delay);
        match indexer::read_words(&file.path) {
            Ok(words) => pairs.extend(words.into_iter().map(|word| (word, file.name.clone()))),
            Err(error) => unreadable.push((file.name.clone(), error.to_string())),
        }
    }
    (pairs, unreadable)
}

/// The exchange's handler: merges each batch into the index as it arrives.
struct Collector<'a> {
    /// The files of each task (task `i` indexes `slices[i]`).
    slices: Vec<&'a [FileEntry]>,
    index: Index,
    /// The files read.
    indexed: usize,
}

impl Collector<'_> {
    /// Reports that the files of `task` are not in the index.
    fn lost(&self, task: usize, error: &dyn std::fmt::Display) {
        let names: Vec<&str> = self.slices[task]
            .iter()
            .map(|file| file.name.as_str())
            .collect();
        eprintln!("start_indexer: lost {}: {error}", names.join(" "));
    }
}

impl Handler for Collector<'_> {
    fn store_data(&mut self, channel: &mut Channel, task: usize) -> pprocess::Result<()> {
        match channel.receive::<Batch>() {
            Ok((pairs, unreadable)) => {
                for (name, reason) in &unreadable {
                    eprintln!("start_indexer: skipping {name}: {reason}");
                }
                self.indexed += self.slices[task].len().saturating_sub(unreadable.len());
                self.index.extend(pairs);
            }
            Err(error) => self.lost(task, &error),
        }
        Ok(())
    }

    fn store_error(&mut self, task: usize, error: pprocess::Error) -> pprocess::Result<()> {
        self.lost(task, &error);
        Ok(())
    }
}

/// Indexes `files` in processes of `slice` files, at most `window` at once.
/// Returns the index and the number of files read.
fn index(
    files: &[FileEntry],
    window: usize,
    slice: usize,
    delay: Duration,
) -> pprocess::Result<(Index, usize)> {
    let slices: Vec<&[FileEntry]> = files.chunks(slice).collect();
    let collector = Collector {
        slices: slices.clone(),
        index: Index::new(),
        indexed: 0,
    };
    let mut exchange = Exchange::with_handler(collector).limit(window);
    for files in slices {
        exchange.start(move |channel| channel.send(&index_files(files, delay)));
    }
    exchange.finish()?;
    let collector = exchange.into_handler();
    Ok((collector.index, collector.indexed))
}

/// The `Pattern:` prompt: answers each line of standard input until its
/// end.
fn prompt(index: &Index) -> io::Result<()> {
    let mut input = io::stdin().lock();
    let mut output = io::stdout().lock();
    let mut line = Vec::new();
    loop {
        write!(output, "Pattern: ")?;
        output.flush()?;
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            writeln!(output)?;
            return output.flush();
        }
        let text = String::from_utf8_lossy(&line);
        for (word, files) in index.matches(text.trim()) {
            writeln!(output, "{}", indexer::format_match(word, files))?;
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let Some(dir) = args.dir else {
        eprintln!("{}", Args::command().render_long_help());
        return ExitCode::FAILURE;
    };
    let files = match indexer::list_files(&dir) {
        Ok(files) => files,
        Err(error) => {
            eprintln!("start_indexer: cannot list {}: {error}", dir.display());
            return ExitCode::FAILURE;
        }
    };

    let start = Instant::now();
    let delay = Duration::from_secs_f64(args.delay);
    let (index, indexed) = match index(&files, args.window, args.slice, delay) {
        Ok(done) => done,
        Err(error) => {
            eprintln!("start_indexer: {error}");
            return ExitCode::FAILURE;
        }
    };
    let summary = format!(
        "Indexed {} distinct words from {indexed} files in {} seconds.",
        index.len(),
        start.elapsed().as_secs_f64()
    );
    let mut shown = writeln!(io::stdout(), "{summary}");
    if shown.is_ok() && !args.noprompt {
        shown = prompt(&index);
    }
    match shown {
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => {
            eprintln!("start_indexer: {error}");
            ExitCode::FAILURE
        }
        _ => ExitCode::SUCCESS,
    }
}
