//! A worker rank: it serves rank 0's tasks until told to quit, and never
//! returns into the user's code.
//!
//! The tasks run in a reused created process (an [`Exchange`] with
//! `reuse(true)` and a limit of 1), never in the rank's own process: a
//! task that panics, aborts, is killed or times out fails at its index and
//! its process is replaced, while the rank goes on serving. The rank
//! passes each task message on to that process as it is (header and
//! encoded arguments), and sends back the bytes the process answers with,
//! after writing the result header into the room left for it.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, Destination, Source};

use crate::Bytes;
use crate::channel::Channel;
use crate::error::{Error, Result};
use crate::exchange::callable::MakeReusable;
use crate::exchange::callable::sealed::Reuse;
use crate::exchange::work::Worker;
use crate::exchange::{Exchange, Handler};
use crate::mpi::registry;
use crate::mpi::transport;
use crate::mpi::wire::{self, Failure, ResultHeader, TaskHeader};
use crate::sys;

/// How long the rank waits for its process's answers before it looks
/// for new messages from rank 0 (which are pipelined, so rarely needed
/// sooner): a bound on how long rank 0 can be kept waiting to hand over a
/// large task.
const TICK: Duration = Duration::from_millis(5);

/// Serves tasks, after checking this build against rank 0's; then ends
/// MPI and the process.
pub(crate) fn serve(universe: Universe, fingerprint: u64) -> ! {
    let world = universe.world();
    let root = world.process_at_rank(0);
    root.send_with_tag(&fingerprint, wire::HELLO);
    let (verdict, _) = root.receive_with_tag::<u8>(wire::VERDICT);
    if verdict == 1 {
        // The rank's other threads are MPI's: its tasks never use them.
        crate::process::threads::silence_warning();
        Server::new().run(&world);
        root.send_with_tag(&[0u8; 0][..], wire::BYE);
    }
    drop(world);
    drop(universe);
    sys::exit_now(0)
}

/// The results the rank's process has sent, by exchange task number.
#[derive(Default)]
struct Answers(Vec<(usize, Result<Vec<u8>>)>);

impl Handler for Answers {
    fn store_data(&mut self, channel: &mut Channel, task: usize) -> Result<()> {
        let answer = channel.receive_bytes();
        self.0.push((task, answer));
        Ok(())
    }

    fn store_error(&mut self, task: usize, error: Error) -> Result<()> {
        self.0.push((task, Err(error)));
        Ok(())
    }
}

/// Runs a task message in the rank's process.
fn run_task(message: Bytes) -> Bytes {
    let answer = match TaskHeader::read(&message) {
        Some(header) => registry::run(header.entry, &message[TaskHeader::SIZE..]),
        None => {
            registry::encode_outcome::<()>(Err(Failure::Other("a task without a header".into())))
        }
    };
    Bytes::from(answer)
}

/// What the rank's process runs: each task message it is sent.
type TaskRunner = MakeReusable<fn(Bytes) -> Bytes>;

/// The exchange that runs tasks of one timeout, and the tasks it holds.
struct Tasks {
    exchange: Exchange<'static, Answers>,
    timeout: Option<Duration>,
    /// The tasks given to the exchange and not answered, by exchange task
    /// number.
    held: HashMap<usize, ResultHeader>,
}

impl Tasks {
    /// No task yet: one reused process, kept while idle (more tasks are
    /// on their way from rank 0), whose tasks get `timeout`.
    fn new(timeout: Option<Duration>) -> Self {
        let exchange = Exchange::with_handler(Answers::default())
            .limit(1)
            .reuse(true)
            .keep_idle();
        Tasks {
            exchange: match timeout {
                Some(timeout) => exchange.timeout(timeout),
                None => exchange,
            },
            timeout,
            held: HashMap::new(),
        }
    }

    /// Waits up to `wait` for answers and moves them to `ready`.
    fn store(&mut self, wait: Duration, ready: &mut Vec<(ResultHeader, Result<Vec<u8>>)>) {
        // The handler never fails: errors are stored as answers.
        let _ = self.exchange.store(Some(wait));
        for (task, answer) in std::mem::take(&mut self.exchange.handler_mut().0) {
            if let Some(header) = self.held.remove(&task) {
                ready.push((header, answer));
            }
        }
    }
}

struct Server {
    /// Where new tasks go.
    tasks: Tasks,
    /// Exchanges of an earlier timeout that still hold tasks: the tasks
    /// given before keep the timeout they came with, without holding up
    /// the new ones.
    retired: Vec<Tasks>,
    callable: Rc<TaskRunner>,
    worker: Worker<'static>,
    /// Answers not yet sent to rank 0.
    ready: Vec<(ResultHeader, Result<Vec<u8>>)>,
    quit: bool,
}

impl Server {
    fn new() -> Self {
        let callable: Rc<TaskRunner> = Rc::new(MakeReusable::new(run_task));
        let serving = Rc::clone(&callable);
        Server {
            tasks: Tasks::new(None),
            retired: Vec::new(),
            callable,
            worker: Rc::new(move |channel: &mut Channel| serving.serve(channel)),
            ready: Vec::new(),
            quit: false,
        }
    }

    /// Whether tasks are held by any exchange.
    fn holds(&self) -> bool {
        !self.tasks.held.is_empty() || !self.retired.is_empty()
    }

    fn run(mut self, world: &SimpleCommunicator) {
        while !self.quit {
            if !self.holds() && self.ready.is_empty() {
                if let Some(arrived) = transport::wait(world, None) {
                    self.take(transport::receive(arrived));
                }
            }
            self.take_waiting(world);
            if self.holds() && !self.quit {
                self.tasks.store(TICK, &mut self.ready);
                for retired in &mut self.retired {
                    retired.store(Duration::ZERO, &mut self.ready);
                }
                self.retired.retain(|retired| !retired.held.is_empty());
            }
            self.send_answers(world);
        }
    }

    /// Takes every message rank 0 has sent, without waiting.
    fn take_waiting(&mut self, world: &SimpleCommunicator) {
        while let Some(arrived) = transport::probe(world) {
            self.take(transport::receive(arrived));
        }
    }

    fn take(&mut self, (message, _rank, tag): (Vec<u8>, usize, i32)) {
        match tag {
            wire::TASK => match TaskHeader::read(&message) {
                Some(header) => self.start(header, message),
                None => eprintln!("pprocess: a worker rank got a task without a header"),
            },
            wire::QUIT => {
                // Ends the rank's processes (killed and reaped) at once.
                self.quit = true;
                self.tasks = Tasks::new(None);
                self.retired.clear();
                self.ready.clear();
            }
            _ => eprintln!("pprocess: a worker rank got a message with tag {tag}"),
        }
    }

    fn start(&mut self, header: TaskHeader, message: Vec<u8>) {
        if header.timeout() != self.tasks.timeout {
            let old = std::mem::replace(&mut self.tasks, Tasks::new(header.timeout()));
            if !old.held.is_empty() {
                self.retired.push(old);
            }
        }
        let exchange = &mut self.tasks.exchange;
        let task = match self.callable.encode_for_reuse(&Bytes::from(message)) {
            Some(Ok(payload)) => exchange.start_message(payload, Rc::clone(&self.worker)),
            Some(Err(error)) => exchange.start_failed(error),
            None => exchange.start_failed(Error::Encode("a task that cannot be reused".into())),
        };
        self.tasks.held.insert(
            task,
            ResultHeader {
                job: header.job,
                task: header.task,
            },
        );
    }

    /// Sends every ready answer to rank 0. While a send waits for rank 0
    /// (a large answer), the rank keeps taking rank 0's messages, so that
    /// the two never wait for each other.
    fn send_answers(&mut self, world: &SimpleCommunicator) {
        for (header, answer) in std::mem::take(&mut self.ready) {
            let mut bytes = match answer {
                Ok(bytes) if bytes.len() >= ResultHeader::SIZE => bytes,
                Ok(_) => {
                    registry::encode_outcome::<()>(Err(Failure::Other("a short answer".into())))
                }
                Err(error) => registry::encode_outcome::<()>(Err(Failure::from(error))),
            };
            header.write(&mut bytes);
            mpi::request::scope(|scope| {
                let root = world.process_at_rank(0);
                let mut request = root.immediate_send_with_tag(scope, &bytes[..], wire::RESULT);
                loop {
                    match request.test() {
                        Ok(_) => break,
                        Err(pending) => {
                            request = pending;
                            self.take_waiting(world);
                        }
                    }
                }
            });
        }
    }
}
