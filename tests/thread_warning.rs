//! The warning about forking while other threads run (debug builds): on
//! standard error exactly once per process when a map, queue or exchange
//! is made beside other threads, never without them, never when silenced,
//! and never on a created process's standard output.
//!
//! The test harness runs every test beside threads of its own, so this
//! test has no harness (`harness = false` in Cargo.toml): `main` runs each
//! scenario in a new copy of this program, alone on its main thread,
//! without the `PPROCESS_NO_THREAD_WARNING` that `.cargo/config.toml` sets
//! for everything else, and reads what it printed.

use std::process::{Command, Output};
use std::sync::mpsc;
use std::thread;

/// The variable that tells a copy of this program which scenario to run.
const SCENARIO: &str = "THREAD_WARNING_SCENARIO";

/// How the warning starts.
const WARNING: &str = "pprocess: warning: this process has";

fn main() {
    match std::env::var(SCENARIO).ok().as_deref() {
        Some("alone") => scenario(false),
        Some("beside_a_thread") => scenario(true),
        Some(other) => panic!("unknown scenario {other}"),
        None => check_every_scenario(),
    }
}

/// Makes maps and queues that run a few tasks (each created process prints
/// to its standard output), beside one other thread or none.
fn scenario(beside_a_thread: bool) {
    let (stop, stopped) = mpsc::channel::<()>();
    let worker = beside_a_thread.then(|| thread::spawn(move || stopped.recv()));
    assert_eq!(
        pprocess::other_threads(),
        Some(usize::from(beside_a_thread))
    );
    for _ in 0..3 {
        let squares: Vec<u64> = pprocess::pmap(
            |n: u64| {
                println!("task {n}");
                n * n
            },
            0..4,
        )
        .collect::<pprocess::Result<_>>()
        .expect("the tasks");
        assert_eq!(squares, [0, 1, 4, 9]);
        let mut queue = pprocess::Queue::<u64>::new();
        queue.start(|channel| channel.send(&7u64));
        assert_eq!(queue.next().expect("one result").expect("the task"), 7);
    }
    drop(stop);
    if let Some(worker) = worker {
        let _ = worker.join();
    }
}

/// Runs `scenario` in a copy of this program, with the warning silenced or
/// not, and returns what it printed.
fn run(scenario: &str, silenced: bool) -> Output {
    let mut command = Command::new(std::env::current_exe().expect("this program's path"));
    command.env(SCENARIO, scenario);
    if silenced {
        command.env("PPROCESS_NO_THREAD_WARNING", "1");
    } else {
        command.env_remove("PPROCESS_NO_THREAD_WARNING");
    }
    let output = command.output().expect("running a copy of this program");
    assert!(
        output.status.success(),
        "scenario {scenario} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn check_every_scenario() {
    if !cfg!(debug_assertions) || !cfg!(target_os = "linux") {
        println!("thread_warning: the warning exists in debug builds on Linux only");
        return;
    }
    for (scenario, silenced, expected) in [
        ("beside_a_thread", false, 1),
        ("alone", false, 0),
        ("beside_a_thread", true, 0),
    ] {
        let output = run(scenario, silenced);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            stderr.matches(WARNING).count(),
            expected,
            "scenario {scenario}, silenced: {silenced}; standard error:\n{stderr}"
        );
        assert!(
            !stdout.contains("warning"),
            "scenario {scenario}: the warning reached standard output:\n{stdout}"
        );
        // The created processes did run and print (12 tasks of pmap).
        assert_eq!(stdout.matches("task ").count(), 12, "{stdout}");
        if expected == 1 {
            assert!(stderr.contains("1 other thread(s)"), "{stderr}");
            assert!(stderr.contains("rayon"), "{stderr}");
        }
    }
    println!("thread_warning: 3 scenarios ok");
}
