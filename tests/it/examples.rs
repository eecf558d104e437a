//! Runs each example program with `PPROCESS_DELAY=0` and checks that it
//! prints what the original program of the Python module prints (its
//! timing line aside).
//! The binaries are found as `support::example_path` says.

use std::process::{Command, Stdio};
use std::time::Duration;

use pprocess_examples::N;
use support::{example_path, output_within};

use crate::support;

/// How long an example may run before it counts as hung.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Runs example `name` with `PPROCESS_DELAY=0`, checks that it succeeds
/// without writing to standard error within [`TIMEOUT`], and returns its
/// standard output as lines.
fn run(name: &str) -> Vec<String> {
    let child = Command::new(example_path(name))
        .env("PPROCESS_DELAY", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run example {name}: {error}"));
    let output = output_within(child, TIMEOUT, &format!("example {name}"));
    let status = output.status;
    let stdout = String::from_utf8(output.stdout).expect("standard output is UTF-8");
    let stderr = String::from_utf8(output.stderr).expect("standard error is UTF-8");
    assert!(
        status.success() && stderr.is_empty(),
        "example {name} failed ({status}); standard error:\n{stderr}\nstandard output:\n{stdout}"
    );
    stdout.lines().map(str::to_owned).collect()
}

/// Runs example `name` and checks that it prints the progress lines
/// `progress`, then the grid and the time taken, and nothing else.
fn check_grid(name: &str, progress: &[&str]) {
    let lines = run(name);
    let (printed_progress, lines) = lines.split_at(progress.len().min(lines.len()));
    assert_eq!(printed_progress, progress, "{name}: wrong progress lines");
    let grid: Vec<String> = (0..N)
        .map(|i| {
            let row: Vec<String> = (0..N).map(|j| (i * N + j).to_string()).collect();
            row.join(" ")
        })
        .collect();
    assert_eq!(lines.len(), N + 1, "{name} printed:\n{}", lines.join("\n"));
    assert_eq!(lines[..N], grid[..], "{name}: wrong grid");
    let seconds = lines[N]
        .strip_prefix("Time taken: ")
        .and_then(|seconds| seconds.parse::<f64>().ok());
    assert!(
        seconds.is_some_and(|seconds| seconds.is_finite() && seconds >= 0.0),
        "{name}: expected `Time taken: <seconds>`, got {:?}",
        lines[N]
    );
}

/// Runs example `name` and checks that it prints exactly `expected`.
fn check_lines(name: &str, expected: impl IntoIterator<Item = String>) {
    let expected: Vec<String> = expected.into_iter().collect();
    assert_eq!(run(name), expected, "{name}: wrong output");
}

/// What the loop examples print: 0 to 99, from the created process as it
/// receives them, then `Done`, from the creator.
fn loop_output() -> impl Iterator<Item = String> {
    (0..100)
        .map(|number| number.to_string())
        .chain(["Done".to_owned()])
}

/// One test per grid-printing example, named after it, with the progress
/// lines its original prints before the grid.
macro_rules! grid_examples {
    ($($name:ident: [$($progress:literal),*]),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                check_grid(stringify!($name), &[$($progress),*]);
            }
        )*
    };
}

grid_examples!(
    simple: ["Calculating..."],
    simple1: ["Calculating..."],
    simple2: ["Calculating..."],
    simple_map: [],
    simple_create: ["Calculating...", "Finishing..."],
    simple_create_map: ["Calculating..."],
    simple_create_queue: ["Calculating...", "Finishing..."],
    simple_managed: ["Calculating...", "Finishing..."],
    simple_managed_map: ["Calculating..."],
    simple_managed_queue: ["Calculating...", "Finishing..."],
    simple_managed_map_reusable: ["Calculating..."],
    simple_pmap: [],
    simple_pmap_iter: [],
    simple_pmap_progress: [],
    simple_start: ["Calculating...", "Finishing..."],
    simple_start_queue: ["Finishing..."],
    simple_continuous_queue: ["Calculating...", "Finishing..."],
);

#[test]
fn create_loop() {
    check_lines("create_loop", loop_output());
}

#[test]
fn start_loop() {
    let announced = ["loop to 100".to_owned()];
    check_lines("start_loop", announced.into_iter().chain(loop_output()));
}

/// The two sides print at the same time, so their lines interleave in any
/// order; each side's own lines come in order, from 20 down to 1.
#[test]
fn two_way() {
    let printed = run("two_way");
    for side in ["Child", "Parent"] {
        let expected: Vec<String> = (1..=20)
            .rev()
            .flat_map(|n| [format!("{side}: {n}"), format!("{side} sent")])
            .collect();
        let lines: Vec<String> = printed
            .iter()
            .filter(|line| line.starts_with(side))
            .cloned()
            .collect();
        assert_eq!(lines, expected, "two_way: wrong {side} lines");
    }
    assert_eq!(
        printed.len(),
        80,
        "two_way printed:\n{}",
        printed.join("\n")
    );
}
