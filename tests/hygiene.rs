//! Fork hygiene: after every way of creating processes, including crashes,
//! no created process is left (running or zombie) and no descriptor leaks;
//! a created process holds no channel end but its own; text printed before
//! a fork is printed once.
//!
//! This is a test binary of its own, and every test takes [`SERIAL`], so
//! counts of descriptors and of child processes are disturbed by nothing
//! else.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;
use std::panic::AssertUnwindSafe;
use std::sync::{Mutex, MutexGuard, PoisonError};

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use pprocess::{Channel, Error, Exchange, Fork, Handler};

mod hardening;

use hardening::{gone, open_descriptors, own_children};

/// Taken by every test: they run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `body` alone, then checks that the processes it reports are gone,
/// that no other child of this process appeared meanwhile, and that this
/// process has as many descriptors open as before.
fn hygienic(body: impl FnOnce() -> Vec<i32>) {
    let _serial = serial();
    let children_before: BTreeSet<i32> = own_children().into_iter().collect();
    let before = open_descriptors();
    let pids = body();
    assert!(!pids.is_empty(), "the test created no process");
    for pid in &pids {
        assert!(
            gone(*pid),
            "process {pid} is left behind (running or zombie)"
        );
    }
    let left: Vec<i32> = own_children()
        .into_iter()
        .filter(|pid| !children_before.contains(pid))
        .collect();
    assert_eq!(left, [0; 0], "processes left behind");
    assert_eq!(open_descriptors(), before, "descriptors leaked");
}

/// Runs `f` in a process made by `create`, then ends it with
/// `pprocess::exit`. The child never returns into the test harness: if `f`
/// fails or panics, it aborts, and its creator sees `Error::Died`.
fn child_main(mut channel: Channel, f: impl FnOnce(&mut Channel) -> pprocess::Result<()>) -> ! {
    match std::panic::catch_unwind(AssertUnwindSafe(|| f(&mut channel))) {
        Ok(Ok(())) => pprocess::exit(channel),
        _ => std::process::abort(),
    }
}

/// A created process that says it runs, then never ends by itself.
fn run_forever(channel: &mut Channel) -> pprocess::Result<()> {
    channel.send(&std::process::id())?;
    loop {
        std::thread::park();
    }
}

/// Stores each task's value and the pid of the process it came from, and
/// each failed task's error.
#[derive(Default)]
struct Record {
    values: Vec<(usize, u32, i32)>,
    errors: Vec<(usize, Error)>,
}

impl Handler for Record {
    fn store_data(&mut self, channel: &mut Channel, task: usize) -> pprocess::Result<()> {
        let value = channel.receive::<u32>()?;
        self.values.push((task, value, channel.pid()));
        Ok(())
    }

    fn store_error(&mut self, task: usize, error: Error) -> pprocess::Result<()> {
        self.errors.push((task, error));
        Ok(())
    }
}

impl Record {
    /// The values in task order, checking each process sent its own pid.
    fn values_sent_as_pids(&self) -> Vec<i32> {
        for &(task, value, pid) in &self.values {
            assert_eq!(value as i32, pid, "task {task}");
        }
        self.values.iter().map(|&(_, _, pid)| pid).collect()
    }
}

// ---------------------------------------------------------------------------

#[test]
fn a_thousand_started_tasks_with_limit_4_all_arrive_once_and_leave_no_process_or_descriptor() {
    const TASKS: usize = 1000;
    hygienic(|| {
        let mut arrivals: Vec<Vec<i32>> = vec![Vec::new(); TASKS];
        let mut exchange = Exchange::with_handler(|channel: &mut Channel, task: usize| {
            let (index, pid): (usize, i32) = channel.receive()?;
            assert_eq!((index, pid), (task, channel.pid()), "task {task}");
            arrivals[index].push(pid);
            Ok(())
        })
        .limit(4);
        for index in 0..TASKS {
            let task =
                exchange.start(move |channel| channel.send(&(index, std::process::id() as i32)));
            assert_eq!(task, index);
            assert!(exchange.active().len() <= 4);
        }
        exchange.finish().unwrap();
        drop(exchange);
        for (index, pids) in arrivals.iter().enumerate() {
            assert_eq!(pids.len(), 1, "task {index} arrived {} times", pids.len());
        }
        arrivals.into_iter().flatten().collect()
    });
}

#[test]
fn start_receive_and_drop_leave_no_zombie_and_no_descriptor() {
    hygienic(|| {
        (0..5u32)
            .map(|value| {
                let mut channel = pprocess::start(move |channel| channel.send(&value)).unwrap();
                assert_eq!(channel.receive::<u32>().unwrap(), value);
                channel.pid()
            })
            .collect()
    });
}

#[test]
fn create_with_exit_in_the_child_leaves_no_zombie_and_no_descriptor() {
    hygienic(|| {
        (0..5u32)
            .map(|value| match pprocess::create().unwrap() {
                Fork::Child(channel) => child_main(channel, |channel| channel.send(&value)),
                Fork::Parent(mut channel) => {
                    assert_eq!(channel.receive::<u32>().unwrap(), value);
                    assert!(channel.wait().unwrap().success());
                    channel.pid()
                }
            })
            .collect()
    });
}

#[test]
fn exchange_start_with_work_queued_beyond_the_limit_leaves_no_zombie_and_no_descriptor() {
    hygienic(|| {
        let mut exchange = Exchange::with_handler(Record::default()).limit(2);
        for _ in 0..10 {
            exchange.start(|channel| channel.send(&std::process::id()));
        }
        assert_eq!(exchange.active().len(), 2);
        exchange.finish().unwrap();
        let record = exchange.into_handler();
        assert_eq!(record.values.len(), 10);
        record.values_sent_as_pids()
    });
}

#[test]
fn exchange_create_leaves_no_zombie_and_no_descriptor() {
    hygienic(|| {
        let mut exchange = Exchange::with_handler(Record::default()).limit(2);
        for _ in 0..6 {
            if let Some(channel) = exchange.create().unwrap() {
                child_main(channel, |channel| channel.send(&std::process::id()));
            }
        }
        exchange.finish().unwrap();
        let record = exchange.into_handler();
        assert_eq!(record.values.len(), 6);
        record.values_sent_as_pids()
    });
}

#[test]
fn map_and_queue_create_leave_no_zombie_and_no_descriptor() {
    hygienic(|| {
        let mut map = pprocess::Map::<i32>::new().limit(2);
        let mut queue = pprocess::Queue::<i32>::new().limit(2);
        for _ in 0..4 {
            if let Some(channel) = map.create().unwrap() {
                child_main(channel, |channel| channel.send(&std::process::id()));
            }
            if let Some(channel) = queue.create().unwrap() {
                child_main(channel, |channel| channel.send(&std::process::id()));
            }
        }
        let mut pids: Vec<i32> = map.collect::<pprocess::Result<_>>().unwrap();
        pids.extend(queue.collect::<pprocess::Result<Vec<i32>>>().unwrap());
        assert_eq!(pids.len(), 8);
        pids
    });
}

#[test]
fn exchange_manage_leaves_no_zombie_and_no_descriptor() {
    hygienic(|| {
        let mut exchange = Exchange::with_handler(Record::default()).limit(2);
        let mut call = exchange.manage(|channel: &mut Channel, offset: u32| {
            channel.send(&(std::process::id() + offset))
        });
        for _ in 0..6 {
            call.call(0);
        }
        exchange.finish().unwrap();
        let record = exchange.into_handler();
        assert_eq!(record.values.len(), 6);
        record.values_sent_as_pids()
    });
}

#[test]
fn dropping_a_channel_whose_child_still_runs_kills_and_reaps_it() {
    hygienic(|| {
        let mut channel = pprocess::start(run_forever).unwrap();
        let pid = channel.pid();
        assert_eq!(channel.receive::<u32>().unwrap() as i32, pid);
        drop(channel);
        vec![pid]
    });
}

#[test]
fn dropping_an_exchange_with_running_and_queued_work_kills_and_reaps_everything() {
    hygienic(|| {
        let mut exchange = Exchange::new().limit(2);
        for _ in 0..5 {
            exchange.start(run_forever);
        }
        // Wait until both running processes have said they run.
        let mut running = Vec::new();
        while running.len() < 2 {
            for channel in exchange.ready(None).unwrap() {
                let pid = channel.receive::<u32>().unwrap() as i32;
                assert_eq!(pid, channel.pid());
                running.push(pid);
            }
        }
        assert_eq!(exchange.active().len(), 2);
        drop(exchange);
        // `hygienic` also checks that the queued work never started.
        running
    });
}

#[test]
fn children_that_crash_leave_no_zombie_and_no_descriptor() {
    hygienic(|| {
        let mut pids = Vec::new();
        // Through plain channels.
        let crashes: [fn(&mut Channel); 4] = [
            |_| panic!("crash"),
            |_| {
                let _ = signal::raise(Signal::SIGKILL);
            },
            |_| std::process::abort(),
            |_| std::process::exit(3),
        ];
        for crash in crashes {
            let mut channel = pprocess::start(crash).unwrap();
            let error = channel.receive::<u32>().unwrap_err();
            assert_eq!(error.pid(), Some(channel.pid()), "{error:?}");
            pids.push(channel.pid());
        }
        // Killed from outside while it runs.
        let mut channel = pprocess::start(run_forever).unwrap();
        let pid = channel.pid();
        channel.receive::<u32>().unwrap();
        signal::kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
        let error = channel.receive::<u32>().unwrap_err();
        assert!(matches!(error, Error::Died { signal: 9, .. }), "{error:?}");
        pids.push(pid);
        drop(channel);
        // Through an exchange.
        let mut exchange = Exchange::with_handler(Record::default()).limit(2);
        for crash in crashes {
            exchange.start(crash);
        }
        exchange.finish().unwrap();
        let record = exchange.into_handler();
        assert_eq!(record.errors.len(), 4);
        pids.extend(record.errors.iter().map(|(task, error)| {
            error
                .pid()
                .unwrap_or_else(|| panic!("task {task}: {error:?}"))
        }));
        pids
    });
}

#[test]
fn waitall_reaps_every_child_and_their_channels_still_tell_how_they_ended() {
    hygienic(|| {
        let mut channels: Vec<Channel> = (0..3u32)
            .map(|value| pprocess::start(move |channel| channel.send(&value)).unwrap())
            .collect();
        pprocess::waitall();
        for channel in &channels {
            assert!(
                gone(channel.pid()),
                "process {} is not reaped",
                channel.pid()
            );
        }
        for (value, channel) in (0..3u32).zip(&mut channels) {
            assert_eq!(channel.receive::<u32>().unwrap(), value);
            assert!(channel.wait().unwrap().success());
        }
        channels.iter().map(Channel::pid).collect()
    });
}

/// Asks the kernel to hand out `pid` next, by setting `ns_last_pid`. That
/// needs `CAP_SYS_ADMIN`; without it, ids are handed out in turn, and a
/// caller that wants `pid` forks until it comes round.
fn ask_for_pid(pid: i32) {
    let _ = fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string());
}

/// The largest process id plus one: ids are handed out in turn and wrap
/// around at it.
fn pid_max() -> i32 {
    fs::read_to_string("/proc/sys/kernel/pid_max")
        .expect("pid_max")
        .trim()
        .parse()
        .expect("pid_max is a number")
}

#[test]
fn a_channel_whose_process_waitall_reaped_keeps_its_status_when_the_id_is_reused() {
    hygienic(|| {
        let mut first = pprocess::start(|_channel| std::process::exit(3)).unwrap();
        pprocess::waitall();
        assert!(gone(first.pid()));
        // A later process gets the first one's id, and ends differently.
        // Those that get another id are dropped (killed and reaped). Other
        // processes of the machine take ids too: allow two rounds of ids.
        let tries = 2 * pid_max();
        let mut second = (0..tries)
            .map(|_| {
                ask_for_pid(first.pid());
                pprocess::start(|channel| {
                    let code: u8 = channel.receive()?;
                    Ok::<_, Error>(std::process::ExitCode::from(code))
                })
                .unwrap()
            })
            .find(|second| second.pid() == first.pid())
            .unwrap_or_else(|| panic!("no process got id {} in {tries} tries", first.pid()));
        second.send(&4u8).unwrap();
        // Each channel reports its own process: the first is not handed
        // the second's status, nor the second left without one.
        assert_eq!(first.wait().unwrap().code(), Some(3));
        assert_eq!(second.wait().unwrap().code(), Some(4));
        vec![first.pid()]
    });
}

// ---------------------------------------------------------------------------

/// The inode of the socket at descriptor `fd` of this process.
fn socket_inode(fd: BorrowedFd<'_>) -> u64 {
    fs::metadata(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .expect("stat the socket")
        .ino()
}

/// The inodes of every socket open in this process.
fn open_socket_inodes() -> BTreeSet<u64> {
    fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|entry| {
            let target = fs::read_link(entry.ok()?.path()).ok()?;
            let target = target.to_str()?;
            target
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

#[test]
fn a_created_process_holds_no_end_of_its_siblings_channels() {
    hygienic(|| {
        // A reports the inode of its end, then waits for the word to finish.
        let mut a = pprocess::start(|channel| {
            channel.send(&socket_inode(channel.socket().unwrap()))?;
            let _go: () = channel.receive()?;
            channel.send("A done")
        })
        .unwrap();
        let a_created_end: u64 = a.receive().unwrap();
        let a_creator_end = socket_inode(a.socket().unwrap());

        // B, created while A's channel is open, reports every socket it
        // holds, then blocks until its creator closes its end.
        let mut b = pprocess::start(|channel| {
            let own = socket_inode(channel.socket().unwrap());
            channel.send(&(own, open_socket_inodes()))?;
            let _ = channel.receive::<()>();
            Ok::<(), Error>(())
        })
        .unwrap();
        let b_creator_end = socket_inode(b.socket().unwrap());
        let (b_own, b_sockets): (u64, BTreeSet<u64>) = b.receive().unwrap();
        assert!(
            b_sockets.contains(&b_own),
            "{b_sockets:?} lacks B's own end"
        );
        for (name, inode) in [
            ("A's creator-side end", a_creator_end),
            ("A's created-side end", a_created_end),
            ("B's creator-side end", b_creator_end),
        ] {
            assert!(!b_sockets.contains(&inode), "B holds {name}");
        }

        // A finishes while B still runs: its creator still sees A's end of
        // file (it would wait for ever if B held a copy of A's end).
        a.send(&()).unwrap();
        assert_eq!(a.receive::<String>().unwrap(), "A done");
        let end = a.receive::<String>().unwrap_err();
        assert!(matches!(end, Error::NoResult { code: 0, .. }), "{end:?}");
        assert!(gone(a.pid()), "A is not reaped");
        assert!(!gone(b.pid()), "B ended too early");

        b.close();
        assert!(b.wait().unwrap().success());
        vec![a.pid(), b.pid()]
    });
}

#[test]
fn text_printed_before_a_fork_is_printed_once() {
    hygienic(|| {
        // In a created process, so its standard output can be a pipe: it
        // writes text without a newline (so it stays in the buffer of
        // standard output), starts a process that writes too, then reports
        // everything that came out of the pipe.
        let mut channel = pprocess::start(|channel| {
            let (read, write) = nix::unistd::pipe()?;
            nix::unistd::dup2_stdout(&write)?;
            drop(write);
            let mut out = std::io::stdout();
            out.write_all(b"before the fork;")?;
            let mut child = pprocess::start(|channel| {
                let _ = std::io::stdout().write_all(b"in the child;");
                channel.send(&())
            })?;
            child.receive::<()>()?;
            child.wait()?;
            out.write_all(b"after the fork;")?;
            out.flush()?;
            // Standard output to /dev/null: the pipe's last writer is gone.
            let null = fs::OpenOptions::new().write(true).open("/dev/null")?;
            nix::unistd::dup2_stdout(&null)?;
            let mut printed = String::new();
            fs::File::from(read).read_to_string(&mut printed)?;
            channel.send(&(printed, child.pid()))?;
            Ok::<(), Box<dyn std::error::Error>>(())
        })
        .unwrap();
        let (printed, grandchild): (String, i32) = channel.receive().unwrap();
        assert_eq!(printed, "before the fork;in the child;after the fork;");
        assert!(channel.wait().unwrap().success());
        vec![channel.pid(), grandchild]
    });
}
