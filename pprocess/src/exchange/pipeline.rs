//! How far ahead of its answers a reused process is sent work.
//!
//! A reused process gets its next arguments before it answers the current
//! ones, so it never waits for a round trip to its creator between tasks.
//! How many it is sent ahead depends on how quickly it answers: enough to
//! keep about [`QUEUED_WORK`] of work waiting in its socket. A process
//! whose tasks take microseconds gets a deep pipeline (a round trip costs
//! more than a task); one whose tasks take milliseconds gets two tasks at a
//! time, so that at the end of a run no process holds back work another
//! could be doing.

use std::time::{Duration, Instant};

/// The fewest tasks a reused process is sent ahead of its answers: the
/// one it works on and the next.
pub(crate) const MIN_DEPTH: usize = 2;

/// The most tasks a reused process is sent ahead of its answers.
pub(crate) const MAX_DEPTH: usize = 64;

/// How much work a reused process is kept supplied with: several round
/// trips to its creator (tens of microseconds each, more when the creator
/// waits for a CPU), and little enough that the processes of a run still
/// finish together.
pub(crate) const QUEUED_WORK: Duration = Duration::from_micros(200);

/// The pace of one reused process, and the pipeline depth that follows.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Pipeline {
    /// How long a task takes, as seen from the creator: a moving average of
    /// the time between answers while the process had work waiting.
    task_time: Option<Duration>,
    /// When the process last answered with more work waiting.
    busy_since: Option<Instant>,
}

impl Pipeline {
    /// How many tasks the process may be sent ahead of its answers.
    pub(crate) fn depth(&self) -> usize {
        depth_for(QUEUED_WORK, self.task_time, MIN_DEPTH, MAX_DEPTH)
    }

    /// Counts an answer that arrived at `now`; `more_waiting` says whether
    /// the process has more tasks to work on. Only time in which it had
    /// work waiting counts: an interval it spent idle says nothing about
    /// its tasks.
    pub(crate) fn answered(&mut self, now: Instant, more_waiting: bool) {
        if let Some(since) = self.busy_since {
            let sample = now.saturating_duration_since(since);
            self.task_time = Some(match self.task_time {
                // Roughly the average of the last eight answers.
                Some(average) => (average * 7 + sample) / 8,
                None => sample,
            });
        }
        self.busy_since = more_waiting.then_some(now);
    }
}

/// How many tasks taking `task_time` each a process is sent ahead of its
/// answers to keep `queued` of work waiting behind the one it works on,
/// from `min` to `max`; `min` while its pace is unknown.
pub(crate) fn depth_for(
    queued: Duration,
    task_time: Option<Duration>,
    min: usize,
    max: usize,
) -> usize {
    let Some(task_time) = task_time else {
        return min;
    };
    let waiting = queued.as_nanos() / task_time.as_nanos().max(1);
    (1 + waiting.min(max as u128) as usize).clamp(min, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `pipeline` forty answers `interval` apart from `now`, always
    /// with more work waiting; returns the time of the last one.
    fn pace(pipeline: &mut Pipeline, mut now: Instant, interval: Duration) -> Instant {
        for _ in 0..40 {
            now += interval;
            pipeline.answered(now, true);
        }
        now
    }

    fn paced(interval: Duration) -> Pipeline {
        let mut pipeline = Pipeline::default();
        pace(&mut pipeline, Instant::now(), interval);
        pipeline
    }

    #[test]
    fn a_new_process_gets_two_tasks() {
        assert_eq!(Pipeline::default().depth(), MIN_DEPTH);
    }

    #[test]
    fn quick_tasks_get_a_deep_pipeline_up_to_the_maximum() {
        assert_eq!(paced(Duration::from_micros(10)).depth(), 21);
        assert_eq!(paced(Duration::from_micros(50)).depth(), 5);
        assert_eq!(paced(Duration::from_nanos(500)).depth(), MAX_DEPTH);
        assert_eq!(paced(Duration::ZERO).depth(), MAX_DEPTH);
    }

    #[test]
    fn slow_tasks_get_two() {
        assert_eq!(paced(Duration::from_micros(200)).depth(), MIN_DEPTH);
        assert_eq!(paced(Duration::from_millis(30)).depth(), MIN_DEPTH);
    }

    #[test]
    fn idle_time_between_answers_is_not_counted_as_work() {
        let mut pipeline = Pipeline::default();
        let now = pace(&mut pipeline, Instant::now(), Duration::from_micros(10));
        // The process answered its last task, then got more a second later.
        pipeline.answered(now + Duration::from_micros(10), false);
        let now = now + Duration::from_secs(1);
        pipeline.answered(now, true);
        assert_eq!(pipeline.depth(), 21, "the idle second was not counted");
        pipeline.answered(now + Duration::from_micros(10), true);
        assert_eq!(pipeline.depth(), 21);
    }

    #[test]
    fn the_depth_follows_a_change_of_pace() {
        let mut pipeline = Pipeline::default();
        let now = pace(&mut pipeline, Instant::now(), Duration::from_micros(10));
        assert_eq!(pipeline.depth(), 21);
        pace(&mut pipeline, now, Duration::from_millis(1));
        assert_eq!(pipeline.depth(), MIN_DEPTH);
    }
}
