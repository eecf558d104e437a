//! Runs the `start_indexer` example on a directory the test creates, asks
//! it prefix queries on standard input, and checks the printed words and
//! files exactly; and checks its usage text and exit code without
//! arguments.
//!
//! `cargo test` builds the examples into `target/<profile>/examples/`
//! before it runs the integration tests; this test finds the binary there,
//! from its own path (`target/<profile>/deps/`). `cargo test --test indexer`
//! alone does not build it: run `cargo build --examples` first.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use support::{example_path, output_within};

use crate::support;

/// How long the example may run before it counts as hung.
const TIMEOUT: Duration = Duration::from_secs(60);

/// What a run of the example did.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs the example with `args`, feeding it `input`, within [`TIMEOUT`].
fn run(args: &[&std::ffi::OsStr], input: &str) -> Run {
    let mut child = Command::new(example_path("start_indexer"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run the example");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_owned();
    // A program that exits without reading its input is no error here.
    let writer = thread::spawn(move || drop(stdin.write_all(input.as_bytes())));
    let output = output_within(child, TIMEOUT, "start_indexer");
    writer.join().unwrap();
    Run {
        status: output.status,
        stdout: String::from_utf8(output.stdout).expect("the example's output is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("the example's errors are UTF-8"),
    }
}

/// A directory in the system temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "pprocess-indexer-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&path).expect("creating the test directory");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The test directory: text files, a file that is not UTF-8, an empty
/// file, a subdirectory (not indexed), and a symbolic link to a missing
/// file (unreadable).
fn make_corpus() -> TempDir {
    let dir = TempDir::new();
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.0.join(name), bytes).unwrap();
    write(
        "alpha.txt",
        "Hello, world! hello again;\n(world) café--au-lait 42nd\t'quoted' ... --\n".as_bytes(),
    );
    write("beta.txt", b"world wide web\nhello-there web2.0 x\n");
    // Latin-1 bytes: \xe9 and \xff are not UTF-8 and end the words they
    // are in; "naïve" is valid UTF-8 and is kept whole.
    write(
        "gamma.bin",
        b"caf\xe9 bar\xffbaz na\xc3\xafve wor\x80ld\r\n",
    );
    write("empty.txt", b"");
    std::fs::create_dir(dir.0.join("subdir")).unwrap();
    std::fs::write(dir.0.join("subdir/inner.txt"), b"secret hello").unwrap();
    std::os::unix::fs::symlink(dir.0.join("missing.txt"), dir.0.join("broken.txt")).unwrap();
    dir
}

/// Every word of the corpus with its files, written out by hand.
const INDEX: &[(&str, &[&str])] = &[
    ("42nd", &["alpha.txt"]),
    ("Hello", &["alpha.txt"]),
    ("again", &["alpha.txt"]),
    ("bar", &["gamma.bin"]),
    ("caf", &["gamma.bin"]),
    ("café", &["alpha.txt"]),
    ("hello", &["alpha.txt", "beta.txt"]),
    ("naïve", &["gamma.bin"]),
    ("quoted", &["alpha.txt"]),
    ("web", &["beta.txt"]),
    ("web2", &["beta.txt"]),
    ("wide", &["beta.txt"]),
    ("wor", &["gamma.bin"]),
    ("world", &["alpha.txt", "beta.txt"]),
    ("x", &["beta.txt"]),
];

/// The lines a query should print: the words of [`INDEX`] that begin with
/// `prefix`, with their files.
fn expected(prefix: &str) -> Vec<String> {
    INDEX
        .iter()
        .filter(|(word, _)| word.starts_with(prefix))
        .map(|(word, files)| format!("{word}: {}", files.join(" ")))
        .collect()
}

/// Splits the output of a run into the lines printed for each query,
/// checking the prompts and the final newline.
fn answers(stdout: &str, queries: usize) -> Vec<Vec<String>> {
    let chunks: Vec<&str> = stdout.split("Pattern: ").collect();
    assert_eq!(
        chunks.len(),
        queries + 2,
        "expected {} prompts in {stdout:?}",
        queries + 1
    );
    assert_eq!(chunks[0], "", "output before the first prompt: {stdout:?}");
    assert_eq!(
        chunks[queries + 1],
        "\n",
        "the end of the input prints a newline"
    );
    chunks[1..=queries]
        .iter()
        .map(|chunk| {
            assert!(chunk.is_empty() || chunk.ends_with('\n'), "{chunk:?}");
            chunk.lines().map(str::to_owned).collect()
        })
        .collect()
}

/// Checks that the only error reported is the unreadable symbolic link.
fn check_errors(stderr: &str) {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "standard error: {stderr:?}");
    assert!(
        lines[0].starts_with("start_indexer: skipping broken.txt: "),
        "standard error: {stderr:?}"
    );
}

#[test]
fn queries_print_the_matching_words_and_their_files() {
    let dir = make_corpus();
    let queries = [
        "wor", "hel", "caf", "zzz", "  we  ", "Hel", "secret", "", "web2", "é",
    ];
    let input: String = queries.iter().map(|query| format!("{query}\n")).collect();
    let run = run(
        &[
            dir.0.as_os_str(),
            "2".as_ref(),
            "2".as_ref(),
            "0.01".as_ref(),
        ],
        &input,
    );
    assert!(
        run.status.success(),
        "{:?}, stderr: {}",
        run.status,
        run.stderr
    );
    check_errors(&run.stderr);
    let answers = answers(&run.stdout, queries.len());

    // A few written out, to pin down the format itself.
    assert_eq!(answers[0], ["wor: gamma.bin", "world: alpha.txt beta.txt"]);
    assert_eq!(answers[1], ["hello: alpha.txt beta.txt"]);
    assert_eq!(answers[2], ["caf: gamma.bin", "café: alpha.txt"]);
    assert!(answers[3].is_empty());
    assert_eq!(answers[4], ["web: beta.txt", "web2: beta.txt"]);
    assert_eq!(answers[5], ["Hello: alpha.txt"]);
    assert!(answers[6].is_empty(), "subdirectories are not indexed");
    assert_eq!(answers[7].len(), INDEX.len());
    for (query, answer) in queries.iter().zip(&answers) {
        assert_eq!(*answer, expected(query.trim()), "query {query:?}");
    }
}

#[test]
fn every_window_and_slice_gives_the_same_index() {
    let dir = make_corpus();
    for (window, slice) in [("1", "1"), ("3", "1"), ("1", "100"), ("4", "3")] {
        let run = run(&[dir.0.as_os_str(), window.as_ref(), slice.as_ref()], "\n");
        assert!(
            run.status.success(),
            "{:?}, stderr: {}",
            run.status,
            run.stderr
        );
        check_errors(&run.stderr);
        let answers = answers(&run.stdout, 1);
        assert_eq!(answers[0], expected(""), "window {window}, slice {slice}");
    }
}

#[test]
fn noprompt_indexes_and_prints_nothing() {
    let dir = make_corpus();
    let run = run(&[dir.0.as_os_str(), "--noprompt".as_ref()], "wor\n");
    assert!(
        run.status.success(),
        "{:?}, stderr: {}",
        run.status,
        run.stderr
    );
    check_errors(&run.stderr);
    assert_eq!(run.stdout, "");
}

#[test]
fn an_empty_directory_gives_an_empty_index() {
    let dir = TempDir::new();
    let run = run(&[dir.0.as_os_str()], "\na\n");
    assert!(
        run.status.success(),
        "{:?}, stderr: {}",
        run.status,
        run.stderr
    );
    assert_eq!(run.stderr, "");
    let answers = answers(&run.stdout, 2);
    assert!(answers.iter().all(Vec::is_empty));
}

#[test]
fn a_missing_directory_is_an_error() {
    let dir = TempDir::new();
    let missing = dir.0.join("missing");
    let run = run(&[missing.as_os_str()], "");
    assert_eq!(run.status.code(), Some(1), "stderr: {}", run.stderr);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.starts_with("start_indexer: cannot list "),
        "{}",
        run.stderr
    );
}

#[test]
fn no_arguments_print_the_usage_and_exit_with_1() {
    let run = run(&[], "");
    assert_eq!(run.status.code(), Some(1), "stderr: {}", run.stderr);
    assert_eq!(run.stdout, "");
    let usage = &run.stderr;
    assert!(
        usage.contains("Usage: start_indexer DIR [WINDOW] [SLICE] [DELAY] [--noprompt]"),
        "usage: {usage}"
    );
    for explained in [
        "The directory whose regular files are indexed",
        "The most processes to run at once",
        "[default: 4]",
        "The number of files each process indexes",
        "[default: 5]",
        "Seconds of simulated work per file",
        "[default: 0]",
        "--noprompt",
        "Pattern: ",
    ] {
        assert!(
            usage.contains(explained),
            "{explained:?} not in the usage: {usage}"
        );
    }
}
