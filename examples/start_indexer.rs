//! A text indexer, as in the original `start_indexer`: the regular files
//! directly in a directory are indexed in parallel by processes started
//! thread-style ([`pprocess::start`], with the files as the argument), and
//! the creator drives a handler-less continuous [`Exchange`] by hand: it
//! [`add`](Exchange::add)s a window of channels, waits with
//! [`ready`](Exchange::ready), receives from each ready channel, and
//! refills the window as processes end ([`active`](Exchange::active)). Then
//! a `Pattern:` prompt queries the prefix index it built.
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
//! - `--noprompt`: index and exit, printing nothing.
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
//! As in the original, a process sends one message per distinct word of
//! each file, `(file, Ok(word))`, as it finds them, and the creator adds
//! each to the index as it arrives; a file it cannot read is one message
//! `(file, Err(reason))`. A process that fails (panics, dies) is reported
//! with its files, and the indexing carries on.
//!
//! # Output
//!
//! Standard output, exactly:
//!
//! ```text
//! Pattern: <one line per match>
//! Pattern: <one line per match>
//! ...
//! Pattern: <newline, at the end of the input>
//! ```
//!
//! After each `Pattern: ` (printed without a newline, then flushed), one
//! query is read: a line of standard input, with leading and trailing white
//! space removed. For each word that begins with the query, in sorted
//! (byte) order, one line:
//!
//! ```text
//! word: file1 file2 ...
//! ```
//!
//! with the word's files sorted, separated by single spaces, named relative
//! to `DIR` (their names in it). A query nothing begins with prints no line;
//! an empty query prints every word. The end of the input prints a newline
//! and ends the program (exit code 0). With `--noprompt` nothing is
//! printed.
//!
//! Standard error: `start_indexer: skipping FILE: REASON` for each file that
//! could not be read, and `start_indexer: lost FILE...: ERROR` for the files
//! of a process that failed. Neither changes the exit code.

use std::collections::HashMap;
use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::builder::RangedU64ValueParser;
use clap::{CommandFactory, Parser};
use pprocess::{Channel, Exchange};
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

/// What a process sends for each distinct word of a file: the file's name
/// and the word, or, once, the reason the file could not be read (sent
/// borrowed, received owned).
type Entry = (String, Result<String, String>);

/// The work of one process: sends the entries of `files`, waiting `delay`
/// after each file (simulated heavy work).
fn apply_parser(
    channel: &mut Channel,
    files: &[FileEntry],
    delay: Duration,
) -> pprocess::Result<()> {
    for file in files {
        match indexer::read_words(&file.path) {
            Ok(words) => {
                for word in words {
                    let entry: (&str, Result<&str, &str>) = (&file.name, Ok(&word));
                    channel.send(&entry)?;
                }
            }
            Err(error) => {
                let entry: (&str, Result<&str, &str>) = (&file.name, Err(&error.to_string()));
                channel.send(&entry)?;
            }
        }
        std::thread::sleep(delay);
    }
    Ok(())
}

/// Starts a process on each of the next `slices` (from `next`) until
/// `window` channels are active, and returns the index of the next slice
/// to start. `files_of` records each process's files by its pid.
fn fill_window<'a>(
    slices: &[&'a [FileEntry]],
    mut next: usize,
    window: usize,
    exchange: &mut Exchange<'_>,
    files_of: &mut HashMap<i32, &'a [FileEntry]>,
    delay: Duration,
) -> pprocess::Result<usize> {
    while next < slices.len() && exchange.active().len() < window {
        let files = slices[next];
        let channel = pprocess::start(move |channel| apply_parser(channel, files, delay))?;
        files_of.insert(channel.pid(), files);
        exchange.add(channel);
        next += 1;
    }
    Ok(next)
}

/// Reports that `files` are not in the index.
fn lost(files: &[FileEntry], error: &pprocess::Error) {
    let names: Vec<&str> = files.iter().map(|file| file.name.as_str()).collect();
    eprintln!("start_indexer: lost {}: {error}", names.join(" "));
}

/// Indexes `files` in processes of `slice` files, at most `window` at once.
fn index(
    files: &[FileEntry],
    window: usize,
    slice: usize,
    delay: Duration,
) -> pprocess::Result<Index> {
    let slices: Vec<&[FileEntry]> = files.chunks(slice).collect();
    let mut files_of = HashMap::new();
    let mut index = Index::new();
    let mut exchange = Exchange::new().continuous(true);
    let mut next = fill_window(&slices, 0, window, &mut exchange, &mut files_of, delay)?;
    while exchange.active().len() > 0 {
        for channel in exchange.ready(None)? {
            match channel.receive::<Entry>() {
                Ok((file, Ok(word))) => index.insert(word, file),
                Ok((file, Err(reason))) => eprintln!("start_indexer: skipping {file}: {reason}"),
                Err(error) => lost(files_of[&channel.pid()], &error),
            }
        }
        next = fill_window(&slices, next, window, &mut exchange, &mut files_of, delay)?;
    }
    Ok(index)
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
    let delay = Duration::from_secs_f64(args.delay);
    let index = match index(&files, args.window, args.slice, delay) {
        Ok(index) => index,
        Err(error) => {
            eprintln!("start_indexer: {error}");
            return ExitCode::FAILURE;
        }
    };
    if args.noprompt {
        return ExitCode::SUCCESS;
    }
    match prompt(&index) {
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => {
            eprintln!("start_indexer: {error}");
            ExitCode::FAILURE
        }
        _ => ExitCode::SUCCESS,
    }
}
