//! A thread of the creator that holds the standard output lock (issue 17,
//! item 7): what a `fork` does then, and why.
//!
//! std's standard output is one process-wide re-entrant lock, with no way
//! on stable Rust to try it without waiting, and `fork` copies its state.
//! A process forked while another thread owns it can never take it (that
//! owner does not exist in the copy), and every print, flush and panic
//! message goes through it: such a process would hang at its first print
//! (measured: still blocked after 3 s, long after the creator's thread let
//! go). So pprocess takes the lock around `fork`, and a `fork` waits for
//! as long as another thread holds it (measured: a `pmap` of 4 inputs
//! takes 0.9 ms, and 104 ms, 504 ms, 2.0 s while another thread holds the
//! lock for 100 ms, 500 ms, 2 s). This test proves both halves: the fork
//! waits, takes no process before the lock is free, and the created
//! process then prints and sends.
//!
//! One test per binary: it checks the process's own children.

mod hardening;

use std::io::Write;
use std::sync::mpsc;

/// What the kernel says thread `tid` of this process waits in.
fn wait_channel(tid: i32) -> String {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/wchan")).unwrap_or_default()
}

#[test]
fn a_fork_waits_while_another_thread_holds_stdout_and_its_process_then_prints() {
    let (locked, is_locked) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        // As in the issue: a writer that keeps standard output locked.
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        locked.send(()).unwrap();
        released.recv().unwrap();
        writeln!(out, "the holder lets go").unwrap();
    });
    is_locked.recv().unwrap();

    let (tid_sender, tid) = mpsc::channel();
    let (result_sender, result) = mpsc::channel();
    let forker = std::thread::spawn(move || {
        tid_sender.send(nix::unistd::gettid().as_raw()).unwrap();
        let mut channel = pprocess::start(|channel| {
            // Through std's lock, which the created process can take.
            writeln!(std::io::stdout(), "the created process prints").unwrap();
            channel.send(&"printed")
        })
        .expect("start");
        result_sender.send(channel.receive::<String>()).unwrap();
        channel.wait().expect("wait")
    });
    let forker_tid = tid.recv().unwrap();
    hardening::eventually("the forking thread waits for the lock", || {
        wait_channel(forker_tid).contains("futex")
    });
    assert!(result.try_recv().is_err(), "a result came through the lock");
    assert_eq!(hardening::own_children(), [0; 0], "forked while locked");

    release.send(()).unwrap();
    holder.join().unwrap();
    assert_eq!(result.recv().unwrap().expect("the result"), "printed");
    assert!(forker.join().unwrap().success());
}
