//! Follows several growing files and prints the lines that mention
//! bottles, and says so when nothing has arrived for a while, as in the
//! original `bottles_heartbeat`.
//!
//! The same nested processes as `bottles` (a *grep* process per file, each
//! with a *follow* process on an inner queue), but the outer collector is
//! an [`Exchange`] whose handler prints each match as `FILE: LINE`, driven
//! by [`Exchange::store`] with a timeout: when no match has arrived for
//! `MS` milliseconds (1000 unless `--idle MS` is given), it prints
//! `No input received for MS ms.`, and again after each further `MS`
//! milliseconds of quiet. It ends once every file has been removed and read
//! to its end.
//!
//! ```text
//! cargo run --example bottles_heartbeat -- [--idle MS] [FILE...]
//! ```
//!
//! Without files it follows `bottles-1.txt` to `bottles-3.txt` in the
//! system temporary directory; missing files are created empty.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use pprocess::{Channel, Exchange, Handler};
use pprocess_examples::bottles::{self, Match};

/// Prints each match as it arrives, and counts them.
struct Printer {
    printed: u64,
}

impl Handler for Printer {
    fn store_data(&mut self, channel: &mut Channel, _task: usize) -> pprocess::Result<()> {
        let (file, line): Match = channel.receive()?;
        let mut stdout = std::io::stdout();
        let _ = writeln!(stdout, "{file}: {line}");
        let _ = stdout.flush();
        self.printed += 1;
        Ok(())
    }
}

fn run(files: &[PathBuf], idle: Duration) -> pprocess::Result<()> {
    let mut exchange = Exchange::with_handler(Printer { printed: 0 })
        .limit(files.len())
        .continuous(true);
    for file in files {
        exchange.start(move |channel| bottles::grep(channel, file));
    }
    let mut quiet_since = Instant::now();
    let mut printed = 0;
    while exchange.unfinished() {
        exchange.store(Some(idle.saturating_sub(quiet_since.elapsed())))?;
        if exchange.handler().printed != printed {
            printed = exchange.handler().printed;
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() >= idle {
            let mut stdout = std::io::stdout();
            let _ = writeln!(stdout, "No input received for {} ms.", idle.as_millis());
            let _ = stdout.flush();
            quiet_since = Instant::now();
        }
    }
    Ok(())
}

/// Reads `[--idle MS] [FILE...]`.
fn arguments() -> Result<(Duration, Vec<PathBuf>), String> {
    let mut idle = Duration::from_millis(1000);
    let mut files = Vec::new();
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--idle" {
            let millis = args
                .next()
                .and_then(|ms| ms.to_str()?.parse::<u64>().ok())
                .filter(|&ms| ms > 0)
                .ok_or("--idle takes a number of milliseconds")?;
            idle = Duration::from_millis(millis);
        } else {
            files.push(PathBuf::from(arg));
        }
    }
    Ok((idle, files))
}

fn main() -> ExitCode {
    let (idle, files) = match arguments() {
        Ok(arguments) => arguments,
        Err(error) => {
            eprintln!("bottles_heartbeat: {error}\nusage: bottles_heartbeat [--idle MS] [FILE...]");
            return ExitCode::from(2);
        }
    };
    let files = match bottles::files(files) {
        Ok(files) => files,
        Err(error) => {
            eprintln!("bottles_heartbeat: {error}");
            return ExitCode::FAILURE;
        }
    };
    match run(&files, idle) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bottles_heartbeat: {error}");
            ExitCode::FAILURE
        }
    }
}
