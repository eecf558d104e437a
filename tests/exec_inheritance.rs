//! Programs that another thread of the creator runs (`fork` and `exec`,
//! as `std::process::Command` does) while pprocess creates processes
//! inherit none of pprocess's descriptors: every socket pprocess makes is
//! close-on-exec, so a program started at the wrong moment can never keep
//! a task's channel open and delay its end of file (issue 17). A raw
//! `fork` without `exec` cannot be helped: see the crate documentation.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::mpsc;

/// The sockets open in process `pid` (pprocess's channels and persistent
/// connections are all sockets), as `socket:[inode]`.
fn sockets(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd directory")
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .map(|target| target.to_string_lossy().into_owned())
        .filter(|target| target.starts_with("socket:"))
        .collect()
}

/// At most this many programs are started (each costs the test a pipe).
const PROGRAMS: usize = 150;

#[test]
fn programs_run_by_another_thread_while_tasks_start_hold_no_channel() {
    let (stop, stopped) = mpsc::channel::<()>();
    let spawner = std::thread::spawn(move || {
        let mut programs = Vec::new();
        // Programs that stay until their input closes, started as fast as
        // possible while the main thread creates processes.
        while stopped.try_recv().is_err() && programs.len() < PROGRAMS {
            let program = Command::new("cat")
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("cat");
            programs.push(program);
        }
        programs
    });
    let results: Vec<u64> = pprocess::pmap_limit(|n: u64| n + 1, 0..200u64, 8)
        .collect::<pprocess::Result<_>>()
        .expect("every result");
    assert_eq!(results, (1..=200).collect::<Vec<_>>());
    stop.send(()).unwrap();
    let mut programs = spawner.join().unwrap();
    assert!(!programs.is_empty());
    for program in &programs {
        assert_eq!(sockets(program.id()), [""; 0], "program {}", program.id());
    }
    for program in &mut programs {
        program.stdin.take().unwrap().flush().unwrap();
        assert!(program.wait().unwrap().success());
    }
}
