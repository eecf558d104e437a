//! A created process that panics must not hang when another thread of its
//! creator was in the middle of printing a panic at the moment of the fork
//! (std's default hook holds a process-wide lock while it prints).
//!
//! The scenario wedges a thread and standard error for good, so the test
//! runs it in a fresh copy of this test binary, chosen by an environment
//! variable, and reads the verdict from its standard output.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, OFlag, fcntl};

use support::output_within;

mod support;

const SCENARIO: &str = "PPROCESS_PANIC_HOOK_SCENARIO";
const TEST: &str = "a_created_process_panics_cleanly_while_a_thread_of_its_creator_prints_a_panic";

#[test]
fn a_created_process_panics_cleanly_while_a_thread_of_its_creator_prints_a_panic() {
    if std::env::var_os(SCENARIO).is_some() {
        scenario();
    }
    let child = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(SCENARIO, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("running the scenario");
    let output = output_within(child, Duration::from_secs(120), "the scenario");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("SCENARIO-OK inner panic"),
        "scenario output: {stdout}"
    );
}

/// Whether a thread of this process other than the calling one is blocked
/// writing to a pipe.
fn a_thread_is_blocked_writing_a_pipe() -> bool {
    let me = nix::unistd::gettid().as_raw().to_string();
    std::fs::read_dir("/proc/self/task")
        .expect("listing threads")
        .filter_map(Result::ok)
        .filter(|task| task.file_name().to_string_lossy() != me)
        .any(|task| {
            std::fs::read_to_string(task.path().join("wchan"))
                .is_ok_and(|wchan| wchan.contains("pipe"))
        })
}

fn scenario() -> ! {
    // A first created process: the crate installs its panic hook before
    // its first fork (installing a hook waits for threads inside one).
    let mut warm_up = pprocess::start(|_channel| ()).expect("start");
    assert!(warm_up.wait().expect("wait").success());

    // Standard error becomes a pipe that nobody reads, filled to the brim.
    let (_reader, writer) = nix::unistd::pipe().expect("pipe");
    nix::unistd::dup2_stderr(&writer).expect("dup2");
    fcntl(std::io::stderr(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).expect("non-blocking");
    while nix::unistd::write(std::io::stderr(), &[b'x'; 4096]).is_ok() {}
    fcntl(std::io::stderr(), FcntlArg::F_SETFL(OFlag::empty())).expect("blocking again");

    // A thread panics: std's default hook takes its lock and blocks
    // writing the message to the full pipe, for good.
    std::thread::spawn(|| panic!("stuck while printing this"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !a_thread_is_blocked_writing_a_pipe() {
        assert!(
            Instant::now() < deadline,
            "the panicking thread never blocked"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    // A created process panics (printing to /dev/null, so the full pipe
    // is not what could block it): it must report, not wait for the lock.
    let mut map = pprocess::Map::<u8>::new().timeout(Duration::from_secs(20));
    map.start(|_channel| {
        let null = std::fs::File::create("/dev/null").expect("/dev/null");
        nix::unistd::dup2_stderr(&null).expect("dup2");
        panic!("inner panic");
    });
    let verdict = match map.next() {
        Some(Err(pprocess::Error::Panicked { message, .. })) => format!("SCENARIO-OK {message}"),
        other => format!("SCENARIO-FAILED {other:?}"),
    };
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{verdict}");
    let _ = stdout.flush();
    // End here: the wedged thread must not hold up the test harness.
    std::process::exit(0);
}
