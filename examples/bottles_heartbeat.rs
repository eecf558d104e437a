//! Follows several growing files and prints the lines that mention pants,
//! trousers or shorts, and says so when nothing has arrived for a while,
//! as in the original `bottles_heartbeat`: the same nested continuous
//! queues as `bottles`, and a printer that waits with the queue's
//! [`store`](Queue::store) and a timeout, looks at its [`len`](Queue::len)
//! and takes a line with [`next`](Iterator::next).
//!
//! The lines `store` took in are printed (without their leading and
//! trailing white space). When it waited `MS` milliseconds (5000 unless
//! `--idle MS` is given) and nothing came, it prints
//! `No input received for MS ms.` and waits again. It ends once every file
//! has been removed and read to its end.
//!
//! ```text
//! cargo run --example bottles_heartbeat -- [--idle MS] [FILE...]
//! ```
//!
//! Without files it follows `test`, `test2` and `test3` in the system
//! temporary directory; missing files are created empty.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use pprocess::Queue;
use pprocess_examples::bottles;

/// Prints the lines as they arrive, or that none came within `delay`.
fn printer(mut lines: Queue<'_, String>, delay: Duration) -> pprocess::Result<()> {
    let mut stdout = std::io::stdout();
    loop {
        lines.store(Some(delay))?;
        let waiting = lines.len();
        if waiting == 0 && !lines.unfinished() {
            return Ok(());
        }
        if waiting == 0 {
            let _ = writeln!(stdout, "No input received for {} ms.", delay.as_millis());
        }
        for line in lines.by_ref().take(waiting) {
            let _ = writeln!(stdout, "{}", line?.trim());
        }
        let _ = stdout.flush();
    }
}

/// Reads `[--idle MS] [FILE...]`.
fn arguments() -> Result<(Duration, Vec<PathBuf>), String> {
    let mut delay = Duration::from_millis(5000);
    let mut files = Vec::new();
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--idle" {
            let millis = args
                .next()
                .and_then(|ms| ms.to_str()?.parse::<u64>().ok())
                .filter(|&ms| ms > 0)
                .ok_or("--idle takes a number of milliseconds")?;
            delay = Duration::from_millis(millis);
        } else {
            files.push(PathBuf::from(arg));
        }
    }
    Ok((delay, files))
}

fn main() -> ExitCode {
    let (delay, files) = match arguments() {
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
    match printer(bottles::matches(&files), delay) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bottles_heartbeat: {error}");
            ExitCode::FAILURE
        }
    }
}
