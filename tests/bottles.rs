//! Drives the `bottles` examples: appends lines to the files they follow,
//! waits for the matches to come out, and checks that exactly the matching
//! lines did; and that `bottles_heartbeat` reports when it is idle.
//!
//! `cargo test` builds the examples into `target/<profile>/examples/`
//! before it runs the integration tests; `cargo test --test bottles` alone
//! does not (run `cargo build --examples` first).

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use pprocess_examples::bottles::PATTERN;

mod support;

use support::Scratch;

/// How long anything may take before it counts as hung.
const DEADLINE: Duration = Duration::from_secs(60);

/// An example program running, with its standard output arriving line by
/// line. Killed if dropped before it ends (its processes die with it).
struct Running {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(name: &str, args: &[&Path]) -> Self {
        let path = support::example_path(name);
        let mut child = Command::new(path)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run {name}: {error}"));
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (send, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for the next line that `wanted` accepts, remembering every
    /// line seen; panics after [`DEADLINE`] or at the end of the output.
    fn wait_for(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "no {what} within {DEADLINE:?}; output so far: {:?}",
                        self.seen
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the output ended before {what}: {:?}", self.seen)
                }
            }
        }
    }

    /// Waits for the program to end (its output first), and returns its
    /// status and every line it printed.
    fn finish(mut self) -> (ExitStatus, Vec<String>) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("did not end within {DEADLINE:?}; output: {:?}", self.seen)
                }
            }
        }
        let status = self.child.wait().expect("waiting for the example");
        (status, std::mem::take(&mut self.seen))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Appends `text` to `path` in one write, as a logging program would.
fn append(path: &Path, text: &str) {
    OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .expect("appending to a followed file");
}

/// What the examples print for `line` of `path`.
fn printed(path: &Path, line: &str) -> String {
    format!("{}: {line}", path.display())
}

#[test]
fn bottles_prints_exactly_the_lines_that_mention_bottles_from_every_followed_file() {
    let scratch = Scratch::new();
    let first = scratch.file("first.log");
    let second = scratch.file("second.log");
    let third = scratch.file("third.log");
    // Lines already in a file are read too.
    append(&third, "an old bottle of wine\nold news\n");
    let mut bottles = Running::start("bottles", &[&first, &second, &third]);

    let lines = [
        (&first, "99 bottles of beer on the wall"),
        (&second, "no beer here"),
        (&second, "Bottles, capitalised, do not match"),
        (&second, "take one down, pass the bottle around"),
        (&first, "nothing to see"),
        (&first, "98 bottles of beer"),
        (&third, "bottle"),
        (&second, "a line without a newline at the end: bottle"),
    ];
    let mut expected = vec![printed(&third, "an old bottle of wine")];
    bottles.wait_for("the match already in the third file", |line| {
        line == expected[0]
    });
    for (index, (path, line)) in lines.iter().enumerate() {
        let last_of_its_file = lines[index + 1..].iter().all(|(other, _)| other != path);
        let newline = if *path == &second && last_of_its_file {
            ""
        } else {
            "\n"
        };
        append(path, &format!("{line}{newline}"));
        if line.contains(PATTERN) {
            let want = printed(path, line);
            expected.push(want.clone());
            if !newline.is_empty() {
                bottles.wait_for(&format!("`{want}`"), |seen| seen == want);
            }
        }
    }
    // Removing the files ends the program, once all they held is read.
    for path in [&first, &second, &third] {
        fs::remove_file(path).unwrap();
    }
    let (status, output) = bottles.finish();
    assert!(status.success(), "bottles failed: {status}");
    assert_eq!(output, expected);
}

#[test]
fn bottles_heartbeat_says_when_no_input_arrived_and_prints_the_matches() {
    let scratch = Scratch::new();
    let file = scratch.file("quiet.log");
    let idle = Path::new("--idle");
    let millis = Path::new("100");
    let mut heartbeat = Running::start("bottles_heartbeat", &[idle, millis, &file]);
    let idle_line = "No input received for 100 ms.";
    heartbeat.wait_for("the idle line", |line| line == idle_line);
    append(&file, "no match\n1 bottle of beer\n");
    let want = printed(&file, "1 bottle of beer");
    heartbeat.wait_for("the match", |line| line == want);
    // Quiet again: the idle line comes back.
    heartbeat.wait_for("the idle line again", |line| line == idle_line);
    fs::remove_file(&file).unwrap();
    let (status, output) = heartbeat.finish();
    assert!(status.success(), "bottles_heartbeat failed: {status}");
    let matches: Vec<&String> = output.iter().filter(|line| *line != idle_line).collect();
    assert_eq!(matches, [&want], "{output:?}");
    assert!(output.iter().filter(|line| *line == idle_line).count() >= 2);
}
