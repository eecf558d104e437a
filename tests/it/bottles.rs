//! Drives the `bottles` examples: waits until they follow their files,
//! appends lines, and checks that exactly the lines mentioning a pattern
//! come out, once per pattern they mention; and that `bottles_heartbeat`
//! reports when it is idle.
//!
//! `cargo test` builds the examples into `target/<profile>/examples/`
//! before it runs the integration tests; `cargo test --test bottles` alone
//! does not (run `cargo build --examples` first).

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use pprocess_examples::bottles::PATTERNS;

use crate::support;

use support::Scratch;

/// How long anything may take before it counts as hung.
const DEADLINE: Duration = Duration::from_secs(60);

/// How long a probe line may take to come out before another is appended
/// (see [`Running::wait_until_following`]); a probe's own words.
const PROBE_AGAIN: Duration = Duration::from_millis(200);
const PROBE: &str = "probe";

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

    /// Waits until every follow process of `path` follows it. A follow
    /// process starts at the end of its file, some time after the program
    /// starts, and prints nothing when it does: so probe lines that mention
    /// every pattern are appended, one at a time, until one of them comes
    /// out once per pattern (every multigrep process's follow process of
    /// the file has passed the end it started from). A probe that has not
    /// come out after `PROBE_AGAIN` is followed by another; lines printed
    /// meanwhile are remembered, and the probes are left out later.
    fn wait_until_following(&mut self, path: &Path) {
        let deadline = Instant::now() + DEADLINE;
        let mut seen_times: HashMap<String, usize> = HashMap::new();
        for number in 0.. {
            let probe = format!("{PROBE} {number} {}", PATTERNS.join(" "));
            append(path, &format!("{probe}\n"));
            let again = Instant::now() + PROBE_AGAIN;
            while let Ok(line) = self
                .lines
                .recv_timeout(again.saturating_duration_since(Instant::now()))
            {
                self.seen.push(line.clone());
                let times = seen_times.entry(line).or_default();
                *times += 1;
                if *times == PATTERNS.len() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} not followed within {DEADLINE:?}; output so far: {:?}",
                path.display(),
                self.seen
            );
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

/// The lines a program printed, probes left out, sorted: the order of
/// lines from different processes varies.
fn printed_lines(output: &[String]) -> Vec<&str> {
    let mut lines: Vec<&str> = output
        .iter()
        .map(String::as_str)
        .filter(|line| !line.starts_with(PROBE))
        .collect();
    lines.sort_unstable();
    lines
}

#[test]
fn bottles_prints_each_new_line_once_per_pattern_it_mentions() {
    let scratch = Scratch::new();
    let files = [
        scratch.file("test"),
        scratch.file("test2"),
        scratch.file("test3"),
    ];
    // Lines already in a file are not printed: following starts at the end.
    append(&files[0], "old pants\nold shorts\n");
    let args: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let mut bottles = Running::start("bottles", &args);
    for file in &files {
        bottles.wait_until_following(file);
    }

    append(&files[0], "a pair of pants\n");
    append(&files[1], "  trousers and shorts  \n");
    append(&files[2], "nothing to see\n");
    append(&files[0], "Pants, capitalised, do not match\n");
    append(&files[2], "shorts\nbermuda shorts\n");
    append(&files[1], "pants at the end, without a newline");
    // Removing the files ends the program, once all they held is read.
    for file in &files {
        fs::remove_file(file).unwrap();
    }
    let (status, output) = bottles.finish();
    assert!(status.success(), "bottles failed: {status}");
    let mut expected = vec![
        "a pair of pants",
        "trousers and shorts",
        "trousers and shorts",
        "shorts",
        "bermuda shorts",
        "pants at the end, without a newline",
    ];
    expected.sort_unstable();
    assert_eq!(printed_lines(&output), expected, "{output:?}");
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
    heartbeat.wait_until_following(&file);
    append(&file, "no match\nshorts and pants\n");
    heartbeat.wait_for("the match", |line| line == "shorts and pants");
    // Quiet again: the idle line comes back.
    heartbeat.wait_for("the idle line again", |line| line == idle_line);
    fs::remove_file(&file).unwrap();
    let (status, output) = heartbeat.finish();
    assert!(status.success(), "bottles_heartbeat failed: {status}");
    let matches: Vec<&str> = printed_lines(&output)
        .into_iter()
        .filter(|line| *line != idle_line)
        .collect();
    assert_eq!(
        matches,
        ["shorts and pants", "shorts and pants"],
        "{output:?}"
    );
    assert!(output.iter().filter(|line| *line == idle_line).count() >= 2);
}
