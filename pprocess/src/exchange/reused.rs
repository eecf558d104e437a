//! Reused processes: a managed reusable callable's arguments are sent to
//! processes that answered their previous call, a pipeline ahead of their
//! answers ([`Pipeline`]: about 200 us of their work), and the processes
//! are told to quit (`None`) once no work for them can come.
//!
//! Arguments are queued in the channel and written only as the socket
//! takes them (`poll` reports when it has room): the creator never blocks
//! on a full socket, since a process blocked sending a large result would
//! then wait for ever. Tasks sent to a process that fails go back to the
//! front of the queue, for another process.

use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Instant;

use crate::channel::Channel;
use crate::channel::start as process;
use crate::error::{Error, Result};
use crate::exchange::pipeline::Pipeline;
use crate::exchange::slot::{InFlight, Kind, Slot};
use crate::exchange::work::{Work, Worker};
use crate::exchange::{Exchange, Handler};
use crate::wire::codec;

impl<'env, H> Exchange<'env, H> {
    /// Starts a task whose encoded arguments go to a reused process
    /// running `worker`, and returns its task number.
    pub(crate) fn start_message(&mut self, payload: Vec<u8>, worker: Worker<'env>) -> usize {
        while self.take_from_source() {}
        let task = self.next_task();
        self.submit(Work::Message {
            task,
            payload,
            worker,
        });
        task
    }

    /// Records a task that failed before it could start.
    pub(crate) fn start_failed(&mut self, error: Error) -> usize {
        let task = self.next_task();
        self.failures.push_back((task, error));
        task
    }

    /// Sends the arguments of `task` to a reused process running `worker`
    /// with room in its pipeline, or queues them.
    pub(super) fn send_or_queue(&mut self, task: usize, payload: Vec<u8>, worker: Worker<'env>) {
        match self.reused_with_room(&worker) {
            Some(index) => {
                self.send_task(index, task, payload);
                self.flush_slot(index);
            }
            None => self.waiting.push_back(Work::Message {
                task,
                payload,
                worker,
            }),
        }
    }

    /// A live reused process running `worker` that has room in its
    /// pipeline.
    fn reused_with_room(&self, worker: &Worker<'env>) -> Option<usize> {
        self.slots.iter().position(|slot| match &slot.kind {
            Kind::Reused {
                in_flight,
                pipeline,
                ..
            } => !slot.failed && in_flight.len() < pipeline.depth() && slot.runs(worker),
            _ => false,
        })
    }

    /// Starts a reused process running `worker` and sends it its first
    /// task's arguments; on failure, gives the work back with the error.
    pub(super) fn launch_reused(
        &mut self,
        task: usize,
        payload: Vec<u8>,
        worker: Worker<'env>,
    ) -> std::result::Result<(), (Work<'env>, Error)> {
        let serve = Rc::clone(&worker);
        let channel = match process::start(move |channel: &mut Channel| serve(channel)) {
            Ok(channel) => channel,
            Err(error) => {
                let work = Work::Message {
                    task,
                    payload,
                    worker,
                };
                return Err((work, error));
            }
        };
        let kind = Kind::Reused {
            first: task,
            worker,
            in_flight: VecDeque::new(),
            pipeline: Pipeline::default(),
        };
        self.slots.push(Slot::new(channel, kind, self.timeout));
        let index = self.slots.len() - 1;
        self.send_task(index, task, payload);
        if self.slots[index].in_flight() == 0 {
            // Its arguments could not be queued (the task failed): other
            // work, or the word to quit.
            self.feed_reused(index);
        } else {
            self.flush_slot(index);
        }
        Ok(())
    }

    /// Queues a task's arguments for the reused process in slot `index`
    /// (written by [`flush_slot`](Self::flush_slot)). Arguments that no
    /// process could take (beyond the frame limit) fail the task.
    fn send_task(&mut self, index: usize, task: usize, payload: Vec<u8>) {
        let slot = &mut self.slots[index];
        if let Err(error) = slot.channel.queue_encoded(&payload) {
            self.failures.push_back((task, error));
            return;
        }
        let Kind::Reused { in_flight, .. } = &mut slot.kind else {
            return;
        };
        let was_idle = in_flight.is_empty();
        in_flight.push_back(InFlight { task, payload });
        if was_idle {
            slot.restart_clock(self.timeout);
        }
    }

    /// Writes what the socket of slot `index` takes now of the arguments
    /// queued for its process, never waiting (the rest goes out when the
    /// socket has room). If that fails (the process closed its end), the
    /// process gets no more work and is killed if still running, so its
    /// end always follows: reading from it says why it ended, and the
    /// tasks it was sent and never answered go back to the queue
    /// ([`fail_slot`](Self::fail_slot)).
    pub(super) fn flush_slot(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        if slot.channel.flush_unsent().is_err() {
            slot.failed = true;
            slot.channel.kill();
        }
    }

    /// After a reused process in slot `index` answered: tops its pipeline
    /// up with queued arguments for its worker, or tells it to quit when it
    /// has nothing left to do.
    fn feed_reused(&mut self, index: usize) {
        let Kind::Reused {
            worker, pipeline, ..
        } = &self.slots[index].kind
        else {
            return;
        };
        let (worker, depth) = (Rc::clone(worker), pipeline.depth());
        while self.slots[index].in_flight() < depth && !self.slots[index].failed {
            let next = self.waiting.iter().position(|waiting| {
                matches!(waiting, Work::Message { worker: other, .. } if Rc::ptr_eq(other, &worker))
            });
            match next.and_then(|position| self.waiting.remove(position)) {
                Some(Work::Message { task, payload, .. }) => self.send_task(index, task, payload),
                _ => break,
            }
        }
        let may_return = self.work_may_return(&worker);
        let slot = &mut self.slots[index];
        if slot.in_flight() == 0 && !slot.failed && !may_return {
            // `None` tells the reused loop to end: no task may follow it.
            slot.failed = true;
            let mut quit = Vec::new();
            if codec::encode_into(&None::<()>, &mut quit).is_ok() {
                let _ = slot.channel.queue_encoded(&quit);
            }
        }
        self.flush_slot(index);
    }

    /// Whether a process running `worker` holds tasks that would come back
    /// to the queue if it failed (those sent after its current one): until
    /// none does, an idle process of that worker is kept for them rather
    /// than told to quit.
    fn work_may_return(&self, worker: &Worker<'env>) -> bool {
        self.slots
            .iter()
            .any(|slot| slot.in_flight() > 1 && slot.runs(worker))
    }

    /// Gives the idle processes running `worker` the work queued for it, or
    /// tells them to quit once no work for them can still come back.
    fn settle(&mut self, worker: &Worker<'env>) {
        for index in 0..self.slots.len() {
            let slot = &self.slots[index];
            if !slot.failed && slot.in_flight() == 0 && slot.runs(worker) {
                self.feed_reused(index);
            }
        }
    }

    /// A reused process in slot `index` failed: the tasks it was sent
    /// after its current one never ran, and go back to the front of the
    /// queue for another process.
    pub(super) fn requeue_unanswered(&mut self, index: usize) {
        let Kind::Reused {
            worker, in_flight, ..
        } = &mut self.slots[index].kind
        else {
            return;
        };
        let worker = Rc::clone(worker);
        let mut unanswered = std::mem::take(in_flight);
        unanswered.pop_front();
        for InFlight { task, payload } in unanswered.into_iter().rev() {
            self.waiting.push_front(Work::Message {
                task,
                payload,
                worker: Rc::clone(&worker),
            });
        }
        self.settle(&worker);
    }
}

impl<H: Handler> Exchange<'_, H> {
    /// Hands the answer of the reused process in slot `index` to the
    /// handler, then gives the process its next work.
    pub(super) fn store_answer(&mut self, index: usize) -> Result<()> {
        let timeout = self.timeout;
        let slot = &mut self.slots[index];
        let Some(task) = slot.current_task() else {
            return Ok(());
        };
        let Kind::Reused {
            worker,
            in_flight,
            pipeline,
            ..
        } = &mut slot.kind
        else {
            return Ok(());
        };
        let worker = Rc::clone(worker);
        in_flight.pop_front();
        pipeline.answered(Instant::now(), !in_flight.is_empty());
        let stored = self.handler.store_data(&mut slot.channel, task);
        slot.restart_clock(timeout);
        self.feed_reused(index);
        // Fewer tasks are held elsewhere: idle processes may quit.
        self.settle(&worker);
        stored
    }
}
