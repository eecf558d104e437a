//! The work an exchange runs: jobs for new processes, arguments for reused
//! ones, and the queue of work waiting for room under the limit.

use std::process::ExitCode;
use std::rc::Rc;

use crate::channel::Channel;

/// Code to run in a new process, once. A boxed `FnMut` rather than a
/// boxed `FnOnce`: calling a boxed `FnOnce` frees the box, and every heap
/// page a created process writes is one the fork made copy-on-write. The
/// created process calls the job through the box and never frees it.
pub(crate) type Job<'env> = Box<dyn FnMut(&mut Channel) -> ExitCode + 'env>;

/// Makes a job of `f`.
pub(crate) fn job<'env>(f: impl FnOnce(&mut Channel) -> ExitCode + 'env) -> Job<'env> {
    let mut f = Some(f);
    Box::new(move |channel| f.take().map_or(ExitCode::FAILURE, |f| f(channel)))
}

/// The loop a reused process runs: receive arguments, answer, repeat.
pub(crate) type Worker<'env> = Rc<dyn Fn(&mut Channel) -> ExitCode + 'env>;

/// Whether a serving process has left answers that the creator has not
/// taken, elsewhere than on its channel.
pub(crate) type AnswersWaiting<'env> = Box<dyn Fn() -> bool + 'env>;

/// Jobs made on demand, in task order.
pub(crate) type Source<'env> = Box<dyn Iterator<Item = Job<'env>> + 'env>;

/// Work that waits for room under the limit.
pub(crate) enum Work<'env> {
    /// Run in a new process, for task `task`.
    Fork { task: usize, job: Job<'env> },
    /// Send these encoded arguments of task `task` to a reused process
    /// running `worker` (a new one if none is free).
    Message {
        task: usize,
        payload: Vec<u8>,
        worker: Worker<'env>,
    },
    /// Run in a new process that takes its own tasks (from a board) and
    /// answers each, on its channel or elsewhere (`answers_waiting` says
    /// whether answers wait there): serving process `server`.
    Serve {
        server: ServerId,
        job: Job<'env>,
        answers_waiting: AnswersWaiting<'env>,
    },
}

impl Work<'_> {
    /// The task this work is, if it is one (serving processes are not
    /// tasks).
    pub(crate) fn task(&self) -> Option<usize> {
        match self {
            Work::Fork { task, .. } | Work::Message { task, .. } => Some(*task),
            Work::Serve { .. } => None,
        }
    }
}

/// What an exchange knows a serving process by: numbers of their own, not
/// task numbers, since one serves many tasks that the exchange never sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ServerId(pub(crate) usize);
