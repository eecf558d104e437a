//! How many tasks rank 0 sends a worker rank in one message, and how many
//! it keeps sent ahead of the worker's answers.
//!
//! Every message costs the same whatever it holds: an MPI send and probe
//! on each side, a write to the process that runs the tasks, a wake-up of
//! each process on the way. For tasks of microseconds that cost is the
//! task's time many times over, so tasks go in batches, and answers come
//! back in batches. How many depends on the worker's pace: enough tasks
//! in flight for [`QUEUED_WORK`] of work, sent as two batches (one runs
//! while the other travels). A task of milliseconds goes alone, three in
//! flight, so that at the end of a run no worker holds back work another
//! could do; a trivial task goes in batches of thousands.
//!
//! The pace is the time the worker's process held tasks, which each
//! result message carries, over the answers in it: the time tasks spend
//! travelling is left out, or a worker given few tasks would look slow
//! (its tasks waiting for a round trip) and be given few again.

use std::time::Duration;

use crate::exchange::pipeline::depth_for;

/// The fewest tasks a worker rank holds: the one its process runs, the
/// next, waiting at the process, and one waiting at the rank. A worker
/// rank looks for rank 0's messages when its process wakes it (a batch is
/// done), so with only two the process would wait, after each task, for
/// the rank to fetch the next one from MPI.
const MIN_DEPTH: usize = 3;

/// The most tasks a worker rank holds: bounds the inputs taken from the
/// user's iterator ahead of their results.
const MAX_DEPTH: usize = 8192;

/// How much work a worker rank is kept supplied with: well past the
/// longest nap of a waiting rank (1 ms) and a round trip of a batch, and
/// little enough that the workers of a run finish together.
const QUEUED_WORK: Duration = Duration::from_millis(4);

/// The most bytes of arguments one batch carries (a larger task goes
/// alone).
pub(crate) const BATCH_BYTES: usize = 1 << 20;

/// The pace of one worker rank, and the batches that follow.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Pace {
    /// How long a task takes the worker: a moving average of the time
    /// its process held tasks over the answers.
    task_time: Option<Duration>,
}

impl Pace {
    /// How many tasks the worker may hold, sent and not answered.
    pub(crate) fn depth(&self) -> usize {
        depth_for(QUEUED_WORK, self.task_time, MIN_DEPTH, MAX_DEPTH)
    }

    /// The most tasks of one batch: half the depth.
    pub(crate) fn batch(&self) -> usize {
        (self.depth() / 2).max(1)
    }

    /// Counts `count` answers that took the worker's process `busy`.
    pub(crate) fn answered(&mut self, busy: Duration, count: usize) {
        let Ok(count @ 1..) = u32::try_from(count) else {
            return;
        };
        let sample = busy / count;
        self.task_time = Some(match self.task_time {
            // Half the last sample, half what came before: the pace
            // settles in a few batches.
            Some(average) => (average + sample) / 2,
            None => sample,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pace fed twenty messages of `count` answers that took `busy`.
    fn paced(busy: Duration, count: usize) -> Pace {
        let mut pace = Pace::default();
        for _ in 0..20 {
            pace.answered(busy, count);
        }
        pace
    }

    #[test]
    fn a_new_worker_gets_one_task_at_a_time_two_in_flight() {
        assert_eq!(Pace::default().depth(), MIN_DEPTH);
        assert_eq!(Pace::default().batch(), 1);
        let mut pace = Pace::default();
        pace.answered(Duration::from_secs(1), 0);
        assert_eq!(pace.depth(), MIN_DEPTH, "no answer, no pace");
    }

    #[test]
    fn trivial_tasks_go_in_large_batches_up_to_the_bound() {
        // 1000 answers in 100 us: 100 ns a task.
        let pace = paced(Duration::from_micros(100), 1000);
        assert_eq!(pace.depth(), MAX_DEPTH);
        assert_eq!(pace.batch(), MAX_DEPTH / 2);
        // 10 us a task: 4 ms is 400 tasks, behind the one running.
        let pace = paced(Duration::from_micros(100), 10);
        assert_eq!(pace.depth(), 401);
        assert_eq!(pace.batch(), 200);
    }

    #[test]
    fn a_slow_task_goes_alone() {
        let pace = paced(Duration::from_millis(3), 1);
        assert_eq!(pace.depth(), MIN_DEPTH);
        assert_eq!(pace.batch(), 1);
    }

    #[test]
    fn a_worker_given_two_quick_tasks_gets_more_next_time() {
        // Two tasks of 10 us: however long they travelled, the worker
        // gets a deeper pipeline at once.
        let mut pace = Pace::default();
        pace.answered(Duration::from_micros(20), 2);
        assert_eq!(pace.depth(), 401);
    }

    #[test]
    fn the_pace_follows_a_change() {
        let mut pace = paced(Duration::from_micros(100), 10);
        assert_eq!(pace.depth(), 401);
        for _ in 0..20 {
            pace.answered(Duration::from_millis(10), 1);
        }
        assert_eq!(pace.batch(), 1);
    }
}
