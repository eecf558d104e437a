//! [`Slot`]: one running process of an exchange, of one of four kinds,
//! and the one rule of its clock.

use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::channel::{Channel, Event};
use crate::exchange::pipeline::Pipeline;
use crate::exchange::work::{AnswersWaiting, ServerId, Worker};

/// When something starting now runs out of `timeout`, if one is set. A
/// timeout too long to count (`Duration::MAX`) is no timeout.
pub(crate) fn deadline_after(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|timeout| Instant::now().checked_add(timeout))
}

/// A task sent to a reused process and not yet answered.
pub(crate) struct InFlight {
    pub(crate) task: usize,
    pub(crate) payload: Vec<u8>,
}

/// What a process of an exchange is for.
pub(crate) enum Kind<'env> {
    /// It runs one task, whose result is one message.
    OneShot { task: usize },
    /// It runs one task that may send any number of messages, none
    /// included; only a bad end is reported.
    Continuous { task: usize },
    /// It runs `worker`: receives the arguments of one task after
    /// another and answers each. `in_flight` are the tasks sent to it and
    /// not yet answered, oldest first; `pipeline` says how many it is sent
    /// ahead of its answers; `first` is the task it was started for, which
    /// a failure outside any task is reported at.
    Reused {
        first: usize,
        worker: Worker<'env>,
        in_flight: VecDeque<InFlight>,
        pipeline: Pipeline,
    },
    /// It takes its own tasks and answers each, on its channel or
    /// elsewhere (`answers_waiting` says whether answers wait there). Its
    /// messages and its end go to the exchange's served events.
    Serving {
        server: ServerId,
        answers_waiting: AnswersWaiting<'env>,
    },
}

/// One running process of the exchange.
pub(crate) struct Slot<'env> {
    pub(crate) channel: Channel,
    pub(crate) kind: Kind<'env>,
    /// The process failed or cannot take more work: it is given no more
    /// tasks (for a one-task process: its failure was already reported).
    pub(crate) failed: bool,
    /// When its clock runs out (with a timeout set); see
    /// [`restart_clock`](Self::restart_clock).
    pub(crate) deadline: Option<Instant>,
    /// It was killed because it ran out of time: its end is reported as
    /// [`Error::Timeout`](crate::Error::Timeout).
    pub(crate) timed_out: bool,
}

/// What an exchange does with a slot now.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum SlotState {
    /// Nothing to do until more bytes arrive on its socket.
    Running,
    /// Its socket has ended but its process has not: nothing to do until
    /// the process ends (or its clock runs out).
    Lingering,
    /// A message or a failure is there for the handler.
    Ready,
    /// Done: everything read, nothing owed, the process has ended.
    Ended,
}

impl<'env> Slot<'env> {
    /// A slot for a process just started or added; its clock starts now.
    pub(crate) fn new(channel: Channel, kind: Kind<'env>, timeout: Option<Duration>) -> Self {
        let mut slot = Slot {
            channel,
            kind,
            failed: false,
            deadline: None,
            timed_out: false,
        };
        slot.restart_clock(timeout);
        slot
    }

    /// The one rule of the clock: it runs from when the process starts,
    /// and starts again when a reused or serving process answers or an
    /// idle reused process is given work; it does not run while a reused
    /// process has nothing to do, nor once the process failed. A one-task
    /// process's clock covers its whole life, past its answer.
    pub(crate) fn restart_clock(&mut self, timeout: Option<Duration>) {
        self.deadline = match &self.kind {
            _ if self.failed || self.timed_out => None,
            Kind::Reused { in_flight, .. } if in_flight.is_empty() => None,
            _ => deadline_after(timeout),
        };
    }

    /// Whether the process still owes the result of a task. A continuous
    /// or serving process owes nothing: it may end without sending (and
    /// its end is reported apart).
    pub(crate) fn owes(&self) -> bool {
        match &self.kind {
            Kind::OneShot { .. } => !self.failed && !self.channel.has_answered(),
            Kind::Reused { in_flight, .. } => !in_flight.is_empty(),
            Kind::Continuous { .. } | Kind::Serving { .. } => false,
        }
    }

    /// Whether its end must be reported, however it ended (the exit
    /// status says whether it sent everything).
    pub(crate) fn reports_end(&self) -> bool {
        matches!(self.kind, Kind::Continuous { .. } | Kind::Serving { .. }) && !self.failed
    }

    /// Whether this is a reused process running `worker`.
    pub(crate) fn runs(&self, worker: &Worker<'env>) -> bool {
        match &self.kind {
            Kind::Reused { worker: own, .. } => Rc::ptr_eq(own, worker),
            _ => false,
        }
    }

    /// The task the next message belongs to; `None` for a serving process.
    pub(crate) fn current_task(&self) -> Option<usize> {
        match &self.kind {
            Kind::OneShot { task } | Kind::Continuous { task } => Some(*task),
            Kind::Reused {
                in_flight, first, ..
            } => Some(in_flight.front().map_or(*first, |sent| sent.task)),
            Kind::Serving { .. } => None,
        }
    }

    /// The serving process's number, if it is one.
    pub(crate) fn server(&self) -> Option<ServerId> {
        match &self.kind {
            Kind::Serving { server, .. } => Some(*server),
            _ => None,
        }
    }

    /// The tasks sent to a reused process and not yet answered.
    pub(crate) fn in_flight(&self) -> usize {
        match &self.kind {
            Kind::Reused { in_flight, .. } => in_flight.len(),
            _ => 0,
        }
    }

    /// What to do with the slot now. A socket that ended while its process
    /// runs on is only done once the process ends: asking whether it has
    /// ended never waits.
    pub(crate) fn state(&mut self) -> SlotState {
        match self.channel.event() {
            Event::Message | Event::Failure => SlotState::Ready,
            Event::Nothing => SlotState::Running,
            Event::End if !self.channel.process_ended() => SlotState::Lingering,
            Event::End if self.owes() => SlotState::Ready,
            Event::End => SlotState::Ended,
        }
    }
}
