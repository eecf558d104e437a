//! [`Runner`]: the created process in which a worker rank runs its tasks,
//! a batch at a time, and what the rank does when that process fails.
//!
//! The rank writes each batch of tasks, as rank 0 sent it, to the process
//! in one write on a socket of their own. The process runs the tasks in
//! order and leaves each answer in a [`Ring`] in memory it shares with the
//! rank (an answer too large for the ring goes on its channel); after the
//! batch it sends one empty message on its channel, which wakes the rank
//! to take every answer at once. So a batch costs one write each way,
//! whatever its size.
//!
//! Left in shared memory, an answer outlives its process. When the
//! process dies (a panic, a signal, its clock running out), the rank
//! takes what the ring holds, gives the first task still unanswered the
//! process's error, and sends the tasks after it to a new process: each
//! failure lands at its own task, and the tasks around it run.
//!
//! The process is a serving process of an [`Exchange`]: its clock (the
//! tasks' timeout) starts again whenever the rank finds new answers, and
//! while it holds no task, so the timeout bounds each task, not a batch.
//!
//! Nothing here runs in the rank's own process on a task's behalf.

use std::cell::Cell;
use std::collections::VecDeque;
use std::io::Read;
use std::ops::Range;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::channel::Channel;
use crate::error::{Error, Result};
use crate::exchange::work::ServerId;
use crate::exchange::{Exchange, Served};
use crate::mpi::registry;
use crate::mpi::wire::{self, BatchHeader, Failure, ResultHeader};
use crate::reused_pmap::ring::Ring;
use crate::sys::{self, SharedMemory};

/// The bytes of the ring: the answers of many batches of small results.
const RING_BYTES: usize = 1 << 20;

/// How long the rank waits for its process when bytes are left to write
/// to it.
const WRITE_AGAIN: Duration = Duration::from_millis(1);

/// The exchange's handler: a serving process's messages never reach it.
type Unused = fn(&mut Channel, usize) -> Result<()>;

/// The ring in `memory`: its positions are the first two words.
fn ring_of(memory: &SharedMemory) -> Ring<'_> {
    let words = memory.words();
    Ring::new(&words[0], &words[1], memory, 0, RING_BYTES)
}

/// One task the rank holds, and where its arguments are.
struct Held {
    answer: ResultHeader,
    entry: u32,
    batch: Rc<Vec<u8>>,
    args: Range<usize>,
}

/// The process running the tasks, as the rank sees it.
struct Process {
    id: ServerId,
    /// The rank's end of the tasks' socket.
    tasks: OwnedFd,
    /// Bytes not yet written to it, from `written`.
    unsent: Vec<u8>,
    written: usize,
}

/// The tasks of one timeout on a worker rank, and the process that runs
/// them (one at a time, a new one after a failure).
pub(crate) struct Runner {
    exchange: Exchange<'static, Unused>,
    timeout: Option<Duration>,
    memory: Rc<SharedMemory>,
    /// Whether the process holds no task (its clock then does not run).
    idle: Rc<Cell<bool>>,
    process: Option<Process>,
    /// Tasks written to the process, in the order it runs them.
    sent: VecDeque<Held>,
    /// Tasks waiting for a process, in order.
    waiting: VecDeque<Held>,
    /// Answers of tasks that failed before a process took them.
    failed: Vec<Vec<u8>>,
    /// How long the process held tasks, since [`take_busy`](Self::take_busy).
    busy: Duration,
    /// Since when it holds tasks, if it does (counted into `busy` so far).
    busy_since: Option<Instant>,
}

impl Runner {
    /// No task and no process yet; tasks will get `timeout`.
    pub(crate) fn new(timeout: Option<Duration>) -> Result<Self> {
        let exchange = Exchange::with_handler((|_, _| Ok(())) as Unused).limit(1);
        let memory = SharedMemory::new(2, RING_BYTES).map_err(|error| Error::io("mmap", error))?;
        Ok(Runner {
            exchange: match timeout {
                Some(timeout) => exchange.timeout(timeout),
                None => exchange,
            },
            timeout,
            memory: Rc::new(memory),
            idle: Rc::new(Cell::new(true)),
            process: None,
            sent: VecDeque::new(),
            waiting: VecDeque::new(),
            failed: Vec::new(),
            busy: Duration::ZERO,
            busy_since: None,
        })
    }

    /// The timeout of its tasks.
    pub(crate) fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Whether it holds tasks not answered.
    pub(crate) fn holds(&self) -> bool {
        !self.sent.is_empty() || !self.waiting.is_empty() || !self.failed.is_empty()
    }

    /// Takes a batch from rank 0 and passes it on to the process; a
    /// batch that is not one is reported on standard error and dropped.
    pub(crate) fn add(&mut self, batch: Vec<u8>) {
        let (Some(header), Some(tasks)) = (BatchHeader::read(&batch), wire::tasks(&batch)) else {
            eprintln!("pprocess: a worker rank got a batch of tasks it cannot read");
            return;
        };
        let batch = Rc::new(batch);
        let held = tasks.into_iter().map(|(task, args)| Held {
            answer: ResultHeader {
                job: header.job,
                task,
            },
            entry: header.entry,
            batch: Rc::clone(&batch),
            args,
        });
        if self.process.is_some() && self.waiting.is_empty() {
            // Passed on as it came, behind the tasks already written.
            self.starting();
            if let Some(process) = &mut self.process {
                frame_into(&mut process.unsent, &batch);
            }
            self.sent.extend(held);
        } else {
            self.waiting.extend(held);
        }
        self.feed();
    }

    /// How long the process held tasks since the last call: its pace,
    /// without the time tasks spent on their way.
    pub(crate) fn take_busy(&mut self) -> Duration {
        std::mem::take(&mut self.busy)
    }

    /// Tasks are about to be written to the process: if it held none, its
    /// clock starts again, and so does its busy time.
    fn starting(&mut self) {
        if let (Some(process), true) = (&self.process, self.sent.is_empty()) {
            self.idle.set(false);
            self.exchange.answered(process.id);
            self.busy_since = Some(Instant::now());
        }
    }

    /// Waits up to `wait` for answers, and moves them to `ready` (each a
    /// [`ResultHeader`] and an encoded result); a failed task's answer is
    /// its error.
    pub(crate) fn store(&mut self, wait: Duration, ready: &mut Vec<Vec<u8>>) {
        self.feed();
        let unsent = self
            .process
            .as_ref()
            .is_some_and(|process| process.written < process.unsent.len());
        let wait = if unsent { wait.min(WRITE_AGAIN) } else { wait };
        // The handler is never called: nothing can fail in it.
        let _ = self.exchange.store(Some(wait));
        self.take_ring(ready);
        let served: Vec<(ServerId, Served)> = self.exchange.take_served().collect();
        for (_, event) in served {
            match event {
                // An empty message says a batch is done: its answers
                // were in the ring.
                Served::Message(Ok(answer)) if answer.is_empty() => {}
                Served::Message(Ok(answer)) => self.answered(answer, ready),
                // The channel is broken: the process's end follows.
                Served::Message(Err(_)) => {}
                Served::End { pid, failure } => self.ended(pid, failure, ready),
            }
        }
        self.idle.set(self.sent.is_empty());
        self.feed();
        ready.append(&mut self.failed);
        let now = Instant::now();
        if let Some(since) = self.busy_since.take() {
            self.busy += now - since;
        }
        if !self.sent.is_empty() {
            self.busy_since = Some(now);
        }
    }

    /// Starts a process if tasks wait for one, writes them to it, and
    /// writes what is left unsent as far as the socket takes it.
    fn feed(&mut self) {
        if !self.waiting.is_empty() && self.process.is_none() {
            if let Err(error) = self.start() {
                // The first task waiting fails; the others wait for the
                // next try.
                if let Some(held) = self.waiting.pop_front() {
                    self.failed.push(failed(held.answer, error));
                }
            }
        }
        if !self.waiting.is_empty() && self.process.is_some() {
            self.starting();
            let batches = rebatch(&self.waiting);
            if let Some(process) = &mut self.process {
                for batch in batches {
                    frame_into(&mut process.unsent, &batch);
                }
            }
            self.sent.extend(self.waiting.drain(..));
        }
        let Some(process) = &mut self.process else {
            return;
        };
        while process.written < process.unsent.len() {
            let unsent = &process.unsent[process.written..];
            match sys::send_nonblocking(process.tasks.as_fd(), unsent) {
                Ok(written) if written > 0 => process.written += written,
                // Full (the process is busy), or gone (its end will be
                // reported): written later, or never.
                _ => break,
            }
        }
        if process.written == process.unsent.len() {
            process.unsent.clear();
            process.written = 0;
        }
    }

    /// Starts a process for the tasks, with a new socket for them.
    fn start(&mut self) -> Result<()> {
        let (ours, theirs) = sys::socket_pair().map_err(|error| Error::io("socketpair", error))?;
        let memory = Rc::clone(&self.memory);
        let (probe, idle) = (Rc::clone(&self.memory), Rc::clone(&self.idle));
        let id = self.exchange.start_serving(
            move |channel| serve(UnixStream::from(theirs), &memory, channel),
            // At its deadline, the process was not late if it holds no
            // task or left answers the rank has not taken yet.
            Box::new(move || idle.get() || ring_of(&probe).used() > 0),
        );
        self.process = Some(Process {
            id,
            tasks: ours,
            unsent: Vec::new(),
            written: 0,
        });
        Ok(())
    }

    /// Moves the answers in the ring to `ready`; new answers restart the
    /// process's clock.
    fn take_ring(&mut self, ready: &mut Vec<Vec<u8>>) {
        let ring = ring_of(&self.memory);
        let mut bytes = Vec::new();
        let answers: Vec<Vec<u8>> = match ring.take_all(&mut bytes) {
            Some(frames) => frames.map(<[u8]>::to_vec).collect(),
            None => {
                // Not answers: nothing in them can be trusted.
                ring.discard();
                Vec::new()
            }
        };
        if answers.is_empty() {
            return;
        }
        for answer in answers {
            self.answered(answer, ready);
        }
        if let Some(process) = &self.process {
            self.exchange.answered(process.id);
        }
    }

    /// Takes an answer of the process, if it is for a task it holds.
    fn answered(&mut self, answer: Vec<u8>, ready: &mut Vec<Vec<u8>>) {
        let Some(header) = ResultHeader::read(&answer) else {
            return;
        };
        // The oldest task, unless an answer too large for the ring came
        // on the channel ahead of those before it.
        if let Some(at) = self.sent.iter().position(|held| held.answer == header) {
            self.sent.remove(at);
            ready.push(answer);
        }
    }

    /// The process `pid` ended: the first task it held and did not
    /// answer gets its error; the others wait for a new process.
    fn ended(&mut self, pid: i32, failure: Option<Error>, ready: &mut Vec<Vec<u8>>) {
        self.take_ring(ready);
        self.process = None;
        if let Some(held) = self.sent.pop_front() {
            let error = failure.unwrap_or(Error::NoResult { pid, code: 0 });
            ready.push(failed(held.answer, error));
        }
        while let Some(held) = self.sent.pop_back() {
            self.waiting.push_front(held);
        }
    }
}

/// The batches that carry `tasks` (of one collection and function each).
fn rebatch(tasks: &VecDeque<Held>) -> Vec<Vec<u8>> {
    let mut batches: Vec<Vec<u8>> = Vec::new();
    let mut last: Option<(u32, u32)> = None;
    for held in tasks {
        let key = (held.answer.job, held.entry);
        if last != Some(key) {
            let header = BatchHeader::read(&held.batch).unwrap_or(BatchHeader {
                job: key.0,
                entry: key.1,
                timeout: 0,
            });
            batches.push(header.batch());
            last = Some(key);
        }
        if let Some(batch) = batches.last_mut() {
            let args = &held.batch[held.args.clone()];
            // Copying bytes cannot fail.
            let _ = wire::push_task(batch, held.answer.task, |out| {
                out.extend_from_slice(args);
                Ok(())
            });
        }
    }
    batches
}

/// Appends `batch` to `out` as the process reads it: its length, then
/// its bytes.
fn frame_into(out: &mut Vec<u8>, batch: &[u8]) {
    let length = u32::try_from(batch.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(batch);
}

/// What the process runs: each batch written to `tasks`, each answer into
/// the ring in `memory` (or on `channel` if it does not fit), then an
/// empty message on `channel`. Ends when the rank closes `tasks`.
fn serve(mut tasks: UnixStream, memory: &SharedMemory, channel: &mut Channel) -> ExitCode {
    let ring = ring_of(memory);
    let mut batch = Vec::new();
    loop {
        let mut length = [0; 4];
        if tasks.read_exact(&mut length).is_err() {
            // The rank is done with this process.
            return ExitCode::SUCCESS;
        }
        batch.resize(u32::from_le_bytes(length) as usize, 0);
        if tasks.read_exact(&mut batch).is_err() {
            return ExitCode::FAILURE;
        }
        let (Some(header), Some(list)) = (BatchHeader::read(&batch), wire::tasks(&batch)) else {
            eprintln!("pprocess: a batch of tasks that cannot be read");
            return ExitCode::FAILURE;
        };
        for (task, args) in list {
            let mut answer = registry::run(header.entry, &batch[args]);
            ResultHeader {
                job: header.job,
                task,
            }
            .write(&mut answer);
            if !ring.push(&answer) && channel.send_bytes(&answer).is_err() {
                return ExitCode::FAILURE;
            }
        }
        if channel.send_bytes(&[]).is_err() {
            return ExitCode::FAILURE;
        }
    }
}

/// The answer that gives the task `header` the error `error`.
pub(crate) fn failed(header: ResultHeader, error: Error) -> Vec<u8> {
    let mut answer = registry::encode_outcome::<()>(Err(Failure::from(error)));
    header.write(&mut answer);
    answer
}
