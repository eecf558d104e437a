//! Taking messages from MPI without spinning a CPU away from the tasks.
//!
//! Open MPI's blocking receive polls without pause, and so does its
//! blocking send of a large message until the receiver takes it: on a
//! machine whose cores run the tasks, a rank that spins while it waits
//! takes a core from them. So ranks wait by probing (or testing a send):
//! without pause for a few tens of microseconds (the time of a quick
//! answer), then sleeping between checks, a little longer each time up
//! to a millisecond.

use std::time::{Duration, Instant};

use mpi::datatype::Equivalence;
use mpi::point_to_point::{Message, Status};
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, Destination, Source};

/// How long a waiting rank probes without pause.
const SPIN: Duration = Duration::from_micros(50);

/// The longest sleep between two probes.
const MAX_NAP: Duration = Duration::from_millis(1);

/// A message that has arrived, from any rank, if there is one.
pub(crate) fn probe(world: &SimpleCommunicator) -> Option<(Message, Status)> {
    world.any_process().immediate_matched_probe()
}

/// Waits for a message from any rank until `deadline` (for ever if
/// `None`).
pub(crate) fn wait(
    world: &SimpleCommunicator,
    deadline: Option<Instant>,
) -> Option<(Message, Status)> {
    let mut backoff = Backoff::new();
    loop {
        if let Some(arrived) = probe(world) {
            return Some(arrived);
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return None;
        }
        backoff.pause();
    }
}

/// Sends `bytes` to `rank` with `tag`, and waits until MPI is done with
/// them, calling `meanwhile` between checks (it returns whether it found
/// something to do). MPI's blocking send of a large message spins until
/// the receiver takes it, which on a machine whose cores run the tasks
/// takes a core from them.
pub(crate) fn send(
    world: &SimpleCommunicator,
    rank: usize,
    bytes: &[u8],
    tag: i32,
    mut meanwhile: impl FnMut() -> bool,
) {
    let rank = i32::try_from(rank).unwrap_or(i32::MAX);
    mpi::request::scope(|scope| {
        let mut request = world
            .process_at_rank(rank)
            .immediate_send_with_tag(scope, bytes, tag);
        let mut backoff = Backoff::new();
        loop {
            match request.test() {
                Ok(_) => return,
                Err(pending) => request = pending,
            }
            if meanwhile() {
                backoff = Backoff::new();
            } else {
                backoff.pause();
            }
        }
    });
}

/// Pauses between checks: none for the first [`SPIN`], then sleeps, a
/// little longer each time up to [`MAX_NAP`].
struct Backoff {
    start: Instant,
    nap: Duration,
}

impl Backoff {
    fn new() -> Self {
        Backoff {
            start: Instant::now(),
            nap: Duration::from_micros(10),
        }
    }

    fn pause(&mut self) {
        if self.start.elapsed() > SPIN {
            std::thread::sleep(self.nap);
            self.nap = (self.nap * 2).min(MAX_NAP);
        }
    }
}

/// Receives a probed message: its bytes, the rank that sent it and its
/// tag.
pub(crate) fn receive((message, status): (Message, Status)) -> (Vec<u8>, usize, i32) {
    let count = usize::try_from(status.count(u8::equivalent_datatype())).unwrap_or(0);
    let mut bytes = vec![0u8; count];
    message.matched_receive_into(&mut bytes[..]);
    let rank = usize::try_from(status.source_rank()).unwrap_or(0);
    (bytes, rank, status.tag())
}
