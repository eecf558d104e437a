//! Taking messages from MPI without spinning a CPU away from the tasks.
//!
//! Open MPI's blocking receive polls without pause, and on a machine whose
//! cores run the tasks, a rank that spins while it waits takes a core from
//! them. So ranks wait by probing: without pause for a few tens of
//! microseconds (the time of a quick answer), then sleeping between
//! probes, a little longer each time up to a millisecond.

use std::time::{Duration, Instant};

use mpi::datatype::Equivalence;
use mpi::point_to_point::{Message, Status};
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, Source};

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
    let start = Instant::now();
    let mut nap = Duration::from_micros(10);
    loop {
        if let Some(arrived) = probe(world) {
            return Some(arrived);
        }
        let now = Instant::now();
        if deadline.is_some_and(|deadline| now >= deadline) {
            return None;
        }
        if now - start > SPIN {
            std::thread::sleep(nap);
            nap = (nap * 2).min(MAX_NAP);
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
