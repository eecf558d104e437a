//! The scheduler under faults of the process rather than of its messages
//! (issue 17): a process that runs on after its channel reached end of
//! file, an exit status taken by someone else (`SIGCHLD` ignored, or a
//! handler that reaps every child), a short want of processes or
//! descriptors, and `Duration::MAX` as a timeout.
//!
//! The stuck processes would run for [`STUCK_FOR`]; each test bounds its
//! own run well below that ([`BOUND`]), so a scheduler that waits for them
//! fails the test instead of passing late. Tests that change the signal
//! disposition, the user or a resource limit do it in a created process
//! (a helper), so the test harness's own state is untouched.

use crate::hardening;

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use hardening::{HANG_GUARD, TaskLog, assert_gone, eventually, gone};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::unistd::Pid;
use pprocess::{Channel, Error, Exchange, Map, Queue};

/// The per-task timeout of the end-of-file tests.
const TIMEOUT: Duration = Duration::from_millis(500);

/// How long a stuck process would run if nobody killed it.
const STUCK_FOR: Duration = Duration::from_secs(20);

/// How long a run with a stuck process may take at most: well below
/// [`STUCK_FOR`], so waiting for the stuck process fails the test.
const BOUND: Duration = Duration::from_secs(8);

/// What a stuck task does after reporting its pid.
#[derive(Clone, Copy, Debug)]
enum Stuck {
    /// Closes its channel without a result and runs on.
    Closes,
    /// Replaces itself with `sleep 20`.
    Execs,
    /// Closes every descriptor from 3 up, as daemon-style code does, and
    /// runs on.
    ClosesEverything,
    /// Sends its result, closes its channel and runs on.
    SendsThenCloses,
}

impl Stuck {
    /// Whether the task sent its result before getting stuck.
    fn sends(self) -> bool {
        matches!(self, Stuck::SendsThenCloses)
    }
}

/// In a created process: gets stuck as `how` says; `channel` is the
/// task's channel, if it has one (a `pmap` function has none).
fn get_stuck(how: Stuck, channel: Option<&mut Channel>, result: u64) -> ! {
    match (how, channel) {
        (Stuck::Closes, Some(channel)) => channel.close(),
        (Stuck::SendsThenCloses, Some(channel)) => {
            channel.send(&result).expect("sending the result");
            channel.close();
        }
        (Stuck::Execs, _) => {
            let error = Command::new("sleep")
                .arg(STUCK_FOR.as_secs().to_string())
                .exec();
            panic!("exec sleep: {error}");
        }
        (Stuck::ClosesEverything, _) => {
            // SAFETY: close_range takes numbers and flags; the descriptors
            // it closes are not used again by this process.
            let closed = unsafe { nix::libc::syscall(nix::libc::SYS_close_range, 3, !0u32, 0) };
            assert_eq!(closed, 0, "close_range");
        }
        (how, None) => unreachable!("{how:?} needs a channel"),
    }
    std::thread::sleep(STUCK_FOR);
    std::process::exit(0)
}

/// Checks what a stuck task gave: its result if it sent one, else
/// `Timeout` with its pid (or, with `timeout` unset, its result).
fn check_stuck_outcome(how: Stuck, outcome: &pprocess::Result<u64>, pid: i32, expected: u64) {
    if how.sends() {
        assert_eq!(
            outcome.as_ref().ok(),
            Some(&expected),
            "{how:?}: {outcome:?}"
        );
    } else {
        let failure = outcome.as_ref().map_err(Error::failure);
        assert!(
            matches!(failure, Err(Error::Timeout { pid: p, after }) if *p == pid && *after == TIMEOUT),
            "{how:?}: expected Timeout for {pid}, got {outcome:?}"
        );
    }
}

/// Four tasks through a `Map` with `timeout`, task 1 stuck as `how`.
fn map_with_a_stuck_task(how: Stuck, timeout: Option<Duration>) {
    let log = TaskLog::new();
    let begun = Instant::now();
    // Two at a time: tasks 2 and 3 start only once the scheduler has
    // dealt with the end of task 1's channel.
    let mut map = Map::new().limit(2);
    if let Some(timeout) = timeout {
        map = map.timeout(timeout);
    }
    for i in 0..4u64 {
        let log = &log;
        map.start(move |channel: &mut Channel| {
            if i == 1 {
                log.report(i);
                get_stuck(how, Some(channel), i * 10);
            }
            channel.send(&(i * 10))
        });
    }
    let results: Vec<_> = map.by_ref().collect();
    let took = begun.elapsed();
    let pid = log.wait_for(1);
    assert!(took < BOUND, "{how:?}: the map took {took:?}");
    assert_eq!(results.len(), 4);
    for (i, result) in results.iter().enumerate() {
        if i == 1 {
            check_stuck_outcome(how, result, pid, 10);
        } else {
            assert_eq!(result.as_ref().ok(), Some(&(i as u64 * 10)), "task {i}");
        }
    }
    drop(map);
    assert_gone([pid]);
}

/// Four tasks through a `Queue` with `timeout`, task 1 stuck as `how`.
fn queue_with_a_stuck_task(how: Stuck, timeout: Option<Duration>) {
    let log = TaskLog::new();
    let begun = Instant::now();
    let mut queue = Queue::new().limit(2);
    if let Some(timeout) = timeout {
        queue = queue.timeout(timeout);
    }
    for i in 0..4u64 {
        let log = &log;
        queue.start(move |channel: &mut Channel| {
            if i == 1 {
                log.report(i);
                get_stuck(how, Some(channel), i * 10);
            }
            channel.send(&(i * 10))
        });
    }
    // Without a timeout nothing ends the stuck process: take the four
    // items the queue owes, no more.
    let mut items: Vec<_> = queue.by_ref().take(4).collect();
    let took = begun.elapsed();
    let pid = log.wait_for(1);
    assert!(took < BOUND, "{how:?}: the queue took {took:?}");
    let stuck = items
        .iter()
        .position(|item| !matches!(item, Ok(value) if *value != 10))
        .expect("an item for the stuck task");
    let stuck = items.remove(stuck);
    check_stuck_outcome(how, &stuck, pid, 10);
    let mut values: Vec<u64> = items.into_iter().map(|item| item.unwrap()).collect();
    values.sort();
    assert_eq!(values, [0, 20, 30]);
    drop(queue);
    assert_gone([pid]);
}

/// Four inputs through `pmap` with `timeout`, with or without reuse,
/// input 1 stuck as `how`.
fn pmap_with_a_stuck_input(how: Stuck, reuse: bool) {
    let log = TaskLog::new();
    let begun = Instant::now();
    let map = Map::new().limit(4).timeout(TIMEOUT).reuse(reuse).pmap(
        |i: u64| {
            if i == 1 {
                log.report(i);
                get_stuck(how, None, i * 10);
            }
            i * 10
        },
        0..4u64,
    );
    let results: Vec<_> = map.collect();
    let took = begun.elapsed();
    let pid = log.wait_for(1);
    assert!(
        took < BOUND,
        "{how:?}, reuse {reuse}: the map took {took:?}"
    );
    for (i, result) in results.iter().enumerate() {
        if i == 1 {
            check_stuck_outcome(how, result, pid, 10);
        } else {
            assert_eq!(result.as_ref().ok(), Some(&(i as u64 * 10)), "input {i}");
        }
    }
    assert_gone([pid]);
}

#[test]
fn a_map_task_that_closes_its_channel_and_runs_on_times_out() {
    map_with_a_stuck_task(Stuck::Closes, Some(TIMEOUT));
}

#[test]
fn a_map_task_that_execs_times_out() {
    map_with_a_stuck_task(Stuck::Execs, Some(TIMEOUT));
}

#[test]
fn a_map_task_that_closes_every_descriptor_times_out() {
    map_with_a_stuck_task(Stuck::ClosesEverything, Some(TIMEOUT));
}

#[test]
fn a_map_task_that_sends_closes_and_runs_on_gives_its_result_and_is_killed() {
    map_with_a_stuck_task(Stuck::SendsThenCloses, Some(TIMEOUT));
}

#[test]
fn without_a_timeout_a_map_task_that_sends_and_runs_on_holds_nothing_back() {
    map_with_a_stuck_task(Stuck::SendsThenCloses, None);
}

#[test]
fn a_queue_task_that_closes_its_channel_and_runs_on_times_out() {
    queue_with_a_stuck_task(Stuck::Closes, Some(TIMEOUT));
}

#[test]
fn a_queue_task_that_execs_times_out() {
    queue_with_a_stuck_task(Stuck::Execs, Some(TIMEOUT));
}

#[test]
fn a_queue_task_that_closes_every_descriptor_times_out() {
    queue_with_a_stuck_task(Stuck::ClosesEverything, Some(TIMEOUT));
}

#[test]
fn a_queue_task_that_sends_closes_and_runs_on_gives_its_result_and_is_killed() {
    queue_with_a_stuck_task(Stuck::SendsThenCloses, Some(TIMEOUT));
}

#[test]
fn without_a_timeout_a_queue_task_that_sends_and_runs_on_holds_nothing_back() {
    queue_with_a_stuck_task(Stuck::SendsThenCloses, None);
}

#[test]
fn a_pmap_input_that_execs_times_out() {
    pmap_with_a_stuck_input(Stuck::Execs, false);
}

#[test]
fn a_pmap_input_that_closes_every_descriptor_times_out() {
    pmap_with_a_stuck_input(Stuck::ClosesEverything, false);
}

#[test]
fn a_reused_pmap_input_that_execs_times_out() {
    pmap_with_a_stuck_input(Stuck::Execs, true);
}

#[test]
fn a_reused_pmap_input_that_closes_every_descriptor_times_out() {
    pmap_with_a_stuck_input(Stuck::ClosesEverything, true);
}

/// Every stuck run, in a helper (alone on its thread, so that its count
/// of descriptors means something): none is left open after.
#[test]
fn stuck_tasks_leave_no_descriptor_behind() {
    let failures = in_a_helper(|| {
        let before = hardening::open_descriptors();
        for how in [
            Stuck::Closes,
            Stuck::Execs,
            Stuck::ClosesEverything,
            Stuck::SendsThenCloses,
        ] {
            map_with_a_stuck_task(how, Some(TIMEOUT));
            queue_with_a_stuck_task(how, Some(TIMEOUT));
        }
        for how in [Stuck::Execs, Stuck::ClosesEverything] {
            pmap_with_a_stuck_input(how, false);
            pmap_with_a_stuck_input(how, true);
        }
        let after = hardening::open_descriptors();
        (after != before)
            .then(|| format!("{before} descriptors open before, {after} after"))
            .into_iter()
            .collect()
    });
    assert_eq!(failures, Vec::<String>::new());
}

// SIGCHLD ignored, or reaped by the program.

/// Runs `helper` in a created process (so that what it changes in its
/// process stays there) and returns what it sends: the failures it found,
/// empty if none.
fn in_a_helper(helper: impl FnOnce() -> Vec<String>) -> Vec<String> {
    let mut map = Map::new().timeout(HANG_GUARD);
    map.start(move |channel: &mut Channel| channel.send(&helper()));
    map.next()
        .expect("the helper's result")
        .expect("the helper ran to its end")
}

/// A handler for `SIGCHLD` that reaps every child, as some programs do.
extern "C" fn reap_every_child(_: nix::libc::c_int) {
    let mut status = 0;
    // SAFETY: waitpid is async-signal-safe and writes only to `status`.
    while unsafe { nix::libc::waitpid(-1, &mut status, nix::libc::WNOHANG) } > 0 {}
}

/// How the helper treats `SIGCHLD`.
#[derive(Clone, Copy, Debug)]
enum Sigchld {
    Ignored,
    Reaped,
}

impl Sigchld {
    fn install(self) {
        let handler = match self {
            Sigchld::Ignored => SigHandler::SigIgn,
            Sigchld::Reaped => SigHandler::Handler(reap_every_child),
        };
        let action = SigAction::new(handler, SaFlags::SA_RESTART, SigSet::empty());
        // SAFETY: the handler only calls waitpid, which is
        // async-signal-safe.
        unsafe { signal::sigaction(Signal::SIGCHLD, &action) }.expect("sigaction");
    }
}

/// Whether `outcome` is the typed error for a status taken by someone
/// else, for process `pid`. Matched on its debug form, so that this file
/// builds on a version without the variant and shows what it got.
fn is_status_taken<T: std::fmt::Debug>(outcome: &pprocess::Result<T>, pid: i32) -> bool {
    let failure = outcome.as_ref().map_err(Error::failure);
    matches!(failure, Err(Error::StatusTaken { pid: p }) if *p == pid)
}

/// A message naming `what` and the outcome, if it is not `StatusTaken` of
/// process `pid`.
fn expect_status_taken<T: std::fmt::Debug>(
    what: &str,
    outcome: &pprocess::Result<T>,
    pid: i32,
) -> Option<String> {
    (!is_status_taken(outcome, pid)).then(|| format!("{what}: {outcome:?}"))
}

/// How a created process ends, in a case of the helper.
type End = fn(&mut Channel);

/// In the helper: bare channels whose process ended (aborted, exited 3
/// without a result, killed, exited 0) and was reaped by someone else.
fn bare_channels_under(sigchld: Sigchld) -> Vec<String> {
    sigchld.install();
    let mut failures = Vec::new();
    let ends: [(&str, End); 3] = [
        ("abort", |_| std::process::abort()),
        ("exit 3", |_| std::process::exit(3)),
        ("sigkill", |channel| {
            channel.send(&0u64).expect("ready");
            hardening::block_forever()
        }),
    ];
    for (what, end) in ends {
        let mut channel = pprocess::start(end).expect("start");
        let pid = channel.pid();
        if what == "sigkill" {
            assert_eq!(channel.receive::<u64>().expect("ready"), 0);
            signal::kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill");
        }
        eventually("someone else reaped the process", || gone(pid));
        let outcome = channel.receive::<u64>();
        failures.extend(expect_status_taken(what, &outcome, pid));
    }
    let mut channel = pprocess::start(|_| ()).expect("start");
    let pid = channel.pid();
    eventually("someone else reaped the process", || gone(pid));
    let outcome = channel.wait();
    failures.extend(expect_status_taken("wait after exit 0", &outcome, pid));
    failures
}

/// In the helper: a `pmap` whose inputs abort, exit 3 and are killed, and
/// a continuous `Queue` whose processes send their pid then do the same:
/// each failure is an error at its task, `StatusTaken` (with `SIGCHLD`
/// ignored, the status is always gone; with a reaping handler, pprocess
/// may still get it first, and then the true cause is the answer).
fn collections_under(sigchld: Sigchld) -> Vec<String> {
    sigchld.install();
    let mut failures = Vec::new();
    let accepted = |outcome: &pprocess::Result<u64>, pid: i32, true_cause: &str| {
        is_status_taken(outcome, pid)
            || matches!(sigchld, Sigchld::Reaped) && format!("{outcome:?}").contains(true_cause)
    };
    let end = |how: u64| match how {
        0 => std::process::abort(),
        1 => std::process::exit(3),
        2 => {
            let _ = signal::raise(Signal::SIGKILL);
            unreachable!("killed")
        }
        _ => how,
    };
    let causes = ["signal: 6", "code: 3", "signal: 9"];
    // The map gives no pid for a failure other than in the error: take it
    // from there.
    let results: Vec<_> = Map::new().limit(4).pmap(end, 0..4u64).collect();
    for (how, result) in results.iter().enumerate() {
        let pid = result.as_ref().err().and_then(Error::pid).unwrap_or(0);
        let fine = match causes.get(how) {
            Some(cause) => accepted(result, pid, cause),
            None => result.as_ref().ok() == Some(&3),
        };
        if !fine {
            failures.push(format!("pmap input {how}: {result:?}"));
        }
    }
    let mut queue = Queue::new().continuous(true).limit(3);
    for how in 0..3u64 {
        queue.start(move |channel: &mut Channel| {
            channel.send(&u64::from(std::process::id()))?;
            end(how);
            Ok::<(), Error>(())
        });
    }
    let items: Vec<pprocess::Result<u64>> = queue.by_ref().take(6).collect();
    let pids: Vec<i32> = items
        .iter()
        .filter_map(|item| item.as_ref().ok().map(|&pid| pid as i32))
        .collect();
    let errors: Vec<_> = items.iter().filter(|item| item.is_err()).collect();
    if pids.len() != 3 || errors.len() != 3 {
        failures.push(format!(
            "continuous queue: 3 pids, 3 errors expected: {items:?}"
        ));
    }
    for error in errors {
        let pid = error.as_ref().err().and_then(Error::pid).unwrap_or(0);
        if !pids.contains(&pid) || !causes.iter().any(|cause| accepted(error, pid, cause)) {
            failures.push(format!("continuous queue: {error:?} (pids {pids:?})"));
        }
    }
    failures
}

#[test]
fn with_sigchld_ignored_a_channel_whose_process_ended_is_status_taken() {
    assert_eq!(
        in_a_helper(|| bare_channels_under(Sigchld::Ignored)),
        Vec::<String>::new()
    );
}

#[test]
fn with_a_handler_reaping_every_child_a_channel_whose_process_ended_is_status_taken() {
    assert_eq!(
        in_a_helper(|| bare_channels_under(Sigchld::Reaped)),
        Vec::<String>::new()
    );
}

#[test]
fn with_sigchld_ignored_no_failure_of_a_map_or_continuous_queue_vanishes() {
    assert_eq!(
        in_a_helper(|| collections_under(Sigchld::Ignored)),
        Vec::<String>::new()
    );
}

#[test]
fn with_a_handler_reaping_every_child_no_failure_of_a_map_or_continuous_queue_vanishes() {
    assert_eq!(
        in_a_helper(|| collections_under(Sigchld::Reaped)),
        Vec::<String>::new()
    );
}

// A short want of processes or descriptors.

/// The number of inputs of each `pmap` under a resource limit.
const INPUTS: u64 = 40;

/// In the helper: the processes (threads included, as `RLIMIT_NPROC`
/// counts them) of real user `uid`.
fn tasks_of(uid: u32) -> u64 {
    let mut count = 0;
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        // Processes only: not `self` and `thread-self`, which repeat one.
        if entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
            .is_none()
        {
            continue;
        }
        let Ok(tasks) = std::fs::read_dir(entry.path().join("task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
            let real = status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().next()?.parse::<u32>().ok());
            count += u64::from(real == Some(uid));
        }
    }
    count
}

/// In the helper: becomes user `uid` (a user of its own for each test, so
/// that tests running at once do not count each other's processes; as
/// root only, RLIMIT_NPROC does not bind root) and lets it have `more`
/// processes beyond those it has. Run by another user, the test stays that
/// user, whose other processes may then start or end meanwhile.
fn allow_more_processes(uid: u32, more: u64) {
    // SAFETY (both getuid calls): getuid has no preconditions.
    let mut uid = uid;
    if unsafe { nix::libc::getuid() } == 0 {
        // SAFETY: setuid takes a number and changes only this process.
        let changed = unsafe { nix::libc::setuid(uid) };
        let error = std::io::Error::last_os_error();
        assert_eq!(changed, 0, "setuid({uid}): {error}");
    } else {
        uid = unsafe { nix::libc::getuid() };
    }
    let limit = tasks_of(uid) + more;
    setrlimit(Resource::RLIMIT_NPROC, limit, limit).expect("RLIMIT_NPROC");
}

/// In the helper: lets it open `more` descriptors beyond those it has open
/// (counting the free numbers below the limit).
fn allow_more_descriptors(more: usize) {
    let open: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect();
    // The directory's own descriptor is in the list, and closed by now.
    // SAFETY: F_GETFD only asks whether the descriptor is open.
    let open: Vec<i32> = (open.into_iter())
        .filter(|&fd| unsafe { nix::libc::fcntl(fd, nix::libc::F_GETFD) } != -1)
        .collect();
    let limit = (0..).filter(|fd| !open.contains(fd)).nth(more).unwrap();
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("RLIMIT_NOFILE");
    setrlimit(Resource::RLIMIT_NOFILE, limit as u64, hard).expect("RLIMIT_NOFILE");
}

/// In the helper: a `pmap` of [`INPUTS`] inputs with up to 8 processes at
/// once; the inputs whose outcome is not as `all_answered` wants (every
/// one answered, or every one an error), as messages.
fn pmap_under_the_limit(reuse: bool, all_answered: bool) -> Vec<String> {
    let results: Vec<_> = Map::new()
        .limit(8)
        .reuse(reuse)
        .pmap(|i: u64| i * 2, 0..INPUTS)
        .collect();
    let mut failures: Vec<String> = results
        .iter()
        .enumerate()
        .filter(|(i, result)| match result {
            Ok(value) => !all_answered || *value != *i as u64 * 2,
            Err(_) => all_answered,
        })
        .map(|(i, result)| format!("input {i}: {result:?}"))
        .collect();
    if results.len() != INPUTS as usize {
        failures.push(format!("{} results", results.len()));
    }
    failures
}

#[test]
fn with_room_for_two_processes_every_pmap_input_is_answered() {
    for (uid, reuse) in [(61_001, false), (61_002, true)] {
        let failures = in_a_helper(move || {
            allow_more_processes(uid, 2);
            pmap_under_the_limit(reuse, true)
        });
        assert_eq!(failures, Vec::<String>::new(), "reuse {reuse}");
    }
}

#[test]
fn with_room_for_no_process_every_pmap_input_is_an_error() {
    for (uid, reuse) in [(61_003, false), (61_004, true)] {
        let failures = in_a_helper(move || {
            allow_more_processes(uid, 0);
            pmap_under_the_limit(reuse, false)
        });
        assert_eq!(failures, Vec::<String>::new(), "reuse {reuse}");
    }
}

#[test]
fn with_room_for_three_descriptors_every_pmap_input_is_answered() {
    for reuse in [false, true] {
        let failures = in_a_helper(move || {
            allow_more_descriptors(3);
            pmap_under_the_limit(reuse, true)
        });
        assert_eq!(failures, Vec::<String>::new(), "reuse {reuse}");
    }
}

#[test]
fn with_room_for_no_descriptor_every_pmap_input_is_an_error() {
    for reuse in [false, true] {
        let failures = in_a_helper(move || {
            allow_more_descriptors(0);
            pmap_under_the_limit(reuse, false)
        });
        assert_eq!(failures, Vec::<String>::new(), "reuse {reuse}");
    }
}

// Duration::MAX as a timeout.

#[test]
fn duration_max_as_the_timeout_of_an_exchange_is_no_timeout() {
    let mut got = Vec::new();
    let mut exchange = Exchange::with_handler(|channel: &mut Channel, _task: usize| {
        got.push(channel.receive::<u64>()?);
        Ok(())
    })
    .timeout(Duration::MAX);
    exchange.start(|channel| channel.send(&5u64));
    exchange.finish().expect("the task's result");
    drop(exchange);
    assert_eq!(got, [5]);
}

#[test]
fn duration_max_as_the_timeout_of_a_map_is_no_timeout() {
    let mut map = Map::new().timeout(Duration::MAX);
    map.start(|channel| channel.send(&5u64));
    assert_eq!(map.collect::<pprocess::Result<Vec<u64>>>().unwrap(), [5]);
    let map = Map::new()
        .timeout(Duration::MAX)
        .reuse(true)
        .pmap(|i: u64| i + 1, [1, 2]);
    assert_eq!(map.collect::<pprocess::Result<Vec<u64>>>().unwrap(), [2, 3]);
}

#[test]
fn duration_max_as_the_timeout_of_a_queue_is_no_timeout() {
    let mut queue = Queue::new().timeout(Duration::MAX);
    queue.start(|channel| channel.send(&5u64));
    assert_eq!(queue.collect::<pprocess::Result<Vec<u64>>>().unwrap(), [5]);
}
