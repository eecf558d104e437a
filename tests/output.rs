//! Output through a pipe: text a created process prints right before it
//! ends is not lost, whichever way it ends, and text printed before a fork
//! is printed once.
//!
//! `hygiene.rs` checks a `start` closure that prints and returns. Here the
//! program is this test binary run again as a scenario (chosen by an
//! environment variable) with its standard output a pipe to the test, as a
//! program whose output goes to another program or a file. Its created
//! processes print without a newline (so the text sits in the buffer of
//! standard output) and then end through every path: `pprocess::exit`
//! after `create`, returning from `start`, `std::process::exit`, a panic,
//! a `pmap` function, a reused process told to quit, a continuous one, and
//! a process printing more than a pipe holds.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use pprocess::{Fork, MakeReusable, Map, Queue};

const SCENARIO: &str = "PPROCESS_OUTPUT_SCENARIO";
const TEST: &str = "text_printed_right_before_a_created_process_ends_is_not_lost";

/// More than a pipe holds (64 KiB): the process is still writing it when
/// it ends, and its creator is not the one reading it.
const LARGE: usize = 256 * 1024;

fn scenario() -> ! {
    let mut out = std::io::stdout();
    // Printed once, though every process below is forked after it.
    write!(out, "<before-fork>").unwrap();

    // create, then pprocess::exit.
    match pprocess::create().unwrap() {
        Fork::Child(channel) => {
            print!("<create-exit>");
            pprocess::exit(channel);
        }
        Fork::Parent(mut channel) => assert!(channel.wait().unwrap().success()),
    }
    // start, returning.
    let mut channel = pprocess::start(|_channel| print!("<start-return>")).unwrap();
    assert!(channel.wait().unwrap().success());
    // start, std::process::exit.
    let mut channel = pprocess::start(|_channel| {
        print!("<start-std-exit>");
        std::process::exit(4)
    })
    .unwrap();
    assert_eq!(channel.wait().unwrap().code(), Some(4));
    // A panic.
    let mut channel = pprocess::start(|_channel| {
        print!("<start-panic>");
        panic!("after printing")
    })
    .unwrap();
    assert!(matches!(
        channel.receive::<u8>(),
        Err(pprocess::Error::Panicked { .. })
    ));
    // A pmap function.
    let doubled: Vec<u32> = pprocess::pmap_limit(
        |n: u32| {
            print!("<pmap-{n}>");
            n * 2
        },
        0..3,
        2,
    )
    .collect::<pprocess::Result<_>>()
    .unwrap();
    assert_eq!(doubled, [0, 2, 4]);
    // A reused process, told to quit after its tasks.
    let mut map = Map::new().limit(1).reuse(true);
    {
        let mut call = map.manage(MakeReusable::new(|n: u32| {
            print!("<reused-{n}>");
            n + 1
        }));
        call.call(0);
        call.call(1);
    }
    assert_eq!(map.collect::<pprocess::Result<Vec<u32>>>().unwrap(), [1, 2]);
    // A continuous process.
    let mut queue = Queue::new().continuous(true);
    queue.start(|channel| -> pprocess::Result<()> {
        channel.send(&1u8)?;
        print!("<continuous>");
        Ok(())
    });
    assert_eq!(queue.collect::<pprocess::Result<Vec<u8>>>().unwrap(), [1]);
    // More than a pipe holds, right before the end.
    let mut channel = pprocess::start(|_channel| {
        print!("<large>{}</large>", "y".repeat(LARGE));
    })
    .unwrap();
    assert!(channel.wait().unwrap().success());

    println!("<scenario-done>");
    std::process::exit(0);
}

#[test]
fn text_printed_right_before_a_created_process_ends_is_not_lost() {
    if std::env::var_os(SCENARIO).is_some() {
        scenario();
    }
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(SCENARIO, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("running the scenario");
    let mut stdout = child.stdout.take().unwrap();
    let (done, printed) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let read = stdout.read_to_string(&mut text);
        let _ = done.send(read.map(|_| text));
    });
    let printed = match printed.recv_timeout(Duration::from_secs(120)) {
        Ok(printed) => printed.expect("reading the scenario's output"),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the scenario hung");
        }
    };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}: {printed}");
    let large = format!("<large>{}</large>", "y".repeat(LARGE));
    for marker in [
        "<before-fork>",
        "<create-exit>",
        "<start-return>",
        "<start-std-exit>",
        "<start-panic>",
        "<pmap-0>",
        "<pmap-1>",
        "<pmap-2>",
        "<reused-0>",
        "<reused-1>",
        "<continuous>",
        large.as_str(),
        "<scenario-done>",
    ] {
        let count = printed.matches(marker).count();
        let shown = &marker[..marker.len().min(20)];
        assert_eq!(
            count,
            1,
            "{shown} printed {count} times in {} bytes",
            printed.len()
        );
    }
}
