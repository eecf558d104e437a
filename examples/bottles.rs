//! Follows several growing files and prints the lines that mention
//! bottles, as in the original `bottles`: continuous processes, each
//! sending many messages, on nested queues.
//!
//! The outer [`Queue`] has one continuous *grep* process per file; each of
//! those has an inner queue with one continuous *follow* process, which
//! reads its file (from the beginning, then as it grows, like `tail -f`)
//! and sends every line. The grep process sends on the lines that contain
//! `bottle` (case-sensitive), and this program prints each as
//! `FILE: LINE`, in the order they arrive. It ends once every file has been
//! removed and read to its end.
//!
//! ```text
//! cargo run --example bottles -- [FILE...]
//! ```
//!
//! Without arguments it follows `bottles-1.txt` to `bottles-3.txt` in the
//! system temporary directory; missing files are created empty. Try, in
//! another terminal:
//!
//! ```text
//! echo "99 bottles of beer on the wall" >> /tmp/bottles-1.txt
//! rm /tmp/bottles-*.txt
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use pprocess::Queue;
use pprocess_examples::bottles::{self, Match};

fn run(files: &[PathBuf]) -> pprocess::Result<()> {
    let mut matches: Queue<Match> = Queue::new().limit(files.len()).continuous(true);
    for file in files {
        matches.start(move |channel| bottles::grep(channel, file));
    }
    let mut stdout = std::io::stdout();
    for found in matches {
        let (file, line) = found?;
        let _ = writeln!(stdout, "{file}: {line}");
        let _ = stdout.flush();
    }
    Ok(())
}

fn main() -> ExitCode {
    let files = match bottles::files(std::env::args_os().skip(1).map(PathBuf::from).collect()) {
        Ok(files) => files,
        Err(error) => {
            eprintln!("bottles: {error}");
            return ExitCode::FAILURE;
        }
    };
    match run(&files) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bottles: {error}");
            ExitCode::FAILURE
        }
    }
}
