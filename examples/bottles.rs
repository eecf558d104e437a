//! Follows several growing files and prints the lines that mention pants,
//! trousers or shorts, as in the original `bottles`: continuous processes
//! on nested [`Queue`]s, each process sending many messages.
//!
//! The outer continuous queue manages a *multigrep* function, called once
//! per pattern (`pants`, `trousers`, `shorts`); each multigrep process has
//! an inner continuous queue managing a *follow* function, called once per
//! file, which starts at the end of its file (as `tail -f`) and sends every
//! new line. Each multigrep process sends on the lines that contain its
//! pattern, and this program prints each as it arrives, without its
//! leading and trailing white space: a line that mentions two of the
//! patterns is printed twice. See [`pprocess_examples::bottles`].
//!
//! ```text
//! cargo run --example bottles -- [FILE...]
//! ```
//!
//! Without arguments it follows `test`, `test2` and `test3` in the system
//! temporary directory, as the original does; missing files are created
//! empty. It ends once every file has been removed and read to its end.
//! Try, in another terminal:
//!
//! ```text
//! echo "a pair of pants" >> /tmp/test2
//! rm /tmp/test /tmp/test2 /tmp/test3
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use pprocess::Queue;
use pprocess_examples::bottles;

/// Prints each line as it arrives.
fn printer(lines: Queue<'_, String>) -> pprocess::Result<()> {
    let mut stdout = std::io::stdout();
    for line in lines {
        let _ = writeln!(stdout, "{}", line?.trim());
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
    match printer(bottles::matches(&files)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bottles: {error}");
            ExitCode::FAILURE
        }
    }
}
