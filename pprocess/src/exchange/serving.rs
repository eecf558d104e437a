//! Serving processes: what the engine of `pmap` with reuse asks of an
//! exchange. A serving process takes its own tasks (from shared memory)
//! and answers each; the exchange knows it by a [`ServerId`] of its own,
//! not a task number, runs its clock, and keeps what it sent and how it
//! ended as [`Served`] events for the engine. The handler never sees them.

use std::process::ExitCode;

use crate::channel::Channel;
use crate::error::{Error, Result};
use crate::exchange::Exchange;
use crate::exchange::work::{AnswersWaiting, ServerId, Work, job};

/// What a serving process did, for the engine that started it.
#[derive(Debug)]
pub(crate) enum Served {
    /// It sent a message (its bytes), or what it sent could not be read.
    Message(Result<Vec<u8>>),
    /// Process `pid` ended: cleanly (`failure` is `None`), or with the
    /// error that says how (a signal, an exit code, its clock running out,
    /// or a failure to start it at all: then `pid` is 0).
    End { pid: i32, failure: Option<Error> },
}

impl<'env, H> Exchange<'env, H> {
    /// Runs `f` in a new process that takes its own tasks and answers
    /// each, on its channel or elsewhere (`answers_waiting` says whether
    /// answers wait there). Its clock starts again at each answer; its
    /// messages and its end, always, are [`Served`] events.
    pub(crate) fn start_serving<F>(
        &mut self,
        f: F,
        answers_waiting: AnswersWaiting<'env>,
    ) -> ServerId
    where
        F: FnOnce(&mut Channel) -> ExitCode + 'env,
    {
        let server = ServerId(self.servers);
        self.servers += 1;
        self.submit(Work::Serve {
            server,
            job: job(f),
            answers_waiting,
        });
        server
    }

    /// Takes what serving processes did since the last call, in order.
    pub(crate) fn take_served(&mut self) -> impl Iterator<Item = (ServerId, Served)> + '_ {
        self.served.drain(..)
    }

    /// Whether a serving process is running.
    pub(crate) fn serving(&self) -> bool {
        self.slots.iter().any(|slot| slot.server().is_some())
    }

    /// Restarts the clock of serving process `server`: it answered
    /// elsewhere than on its channel.
    pub(crate) fn answered(&mut self, server: ServerId) {
        let timeout = self.timeout;
        if let Some(slot) = self
            .slots
            .iter_mut()
            .find(|slot| slot.server() == Some(server))
        {
            slot.restart_clock(timeout);
        }
    }

    /// Kills serving process `server`; its end is reported as usual.
    pub(crate) fn kill_server(&mut self, server: ServerId) {
        if let Some(slot) = self
            .slots
            .iter_mut()
            .find(|slot| slot.server() == Some(server))
        {
            slot.channel.kill();
        }
    }

    /// Gives the next `count` task numbers to tasks that serving processes
    /// will take (after the inputs still waiting in the source), and
    /// returns the first.
    pub(crate) fn reserve_tasks(&mut self, count: usize) -> usize {
        while self.take_from_source() {}
        let first = self.next_task;
        self.next_task += count;
        first
    }

    /// The most processes that run at once, if limited.
    pub(crate) fn process_limit(&self) -> Option<usize> {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::{Duration, Instant};

    use super::*;

    /// The events of serving processes until one ends.
    fn until_an_end<H: crate::exchange::Handler>(exchange: &mut Exchange<'_, H>) -> Served {
        let give_up = Instant::now() + Duration::from_secs(30);
        loop {
            assert!(Instant::now() < give_up, "never ended");
            exchange.store(Some(Duration::from_millis(20))).unwrap();
            for (_, event) in exchange.take_served() {
                if let Served::End { .. } = event {
                    return event;
                }
            }
        }
    }

    /// A serving process whose answers wait elsewhere than on its channel
    /// answered in time: its clock starts again rather than run out. Once
    /// nothing waits, it is killed at its timeout and its end reported.
    #[test]
    fn a_serving_process_whose_answers_wait_elsewhere_is_not_late() {
        // The probe is asked at each deadline: it counts them.
        let waiting = Rc::new(Cell::new(true));
        let deadlines = Rc::new(Cell::new(0));
        let (probe, asked) = (Rc::clone(&waiting), Rc::clone(&deadlines));
        let mut exchange = Exchange::with_handler(|_: &mut Channel, _: usize| Ok(()))
            .timeout(Duration::from_millis(50));
        let server = exchange.start_serving(
            |_channel| loop {
                std::thread::park();
            },
            Box::new(move || {
                asked.set(asked.get() + 1);
                probe.get()
            }),
        );
        while deadlines.get() < 5 {
            exchange.store(Some(Duration::from_millis(20))).unwrap();
            assert_eq!(
                exchange.take_served().count(),
                0,
                "not killed while its answers wait"
            );
        }
        waiting.set(false);
        let end = until_an_end(&mut exchange);
        assert!(
            matches!(
                end,
                Served::End {
                    failure: Some(Error::Timeout { .. }),
                    ..
                }
            ),
            "{end:?}"
        );
        assert!(!exchange.serving(), "server {server:?} is gone");
    }

    /// The end of a serving process is reported even when it exits with
    /// 0, and never to the handler: only the engine knows whether it held
    /// a task.
    #[test]
    fn the_clean_end_of_a_serving_process_is_an_event_not_a_task() {
        let mut exchange = Exchange::with_handler(|_: &mut Channel, task: usize| -> Result<()> {
            panic!("task {task} is not a task");
        });
        exchange.start_serving(|_channel| ExitCode::SUCCESS, Box::new(|| false));
        let end = until_an_end(&mut exchange);
        assert!(
            matches!(end, Served::End { pid, failure: None } if pid > 0),
            "{end:?}"
        );
        assert_eq!(exchange.tasks(), 0, "no task number was used");
    }
}
