//! A worker rank: it serves rank 0's tasks until told to quit, and never
//! returns into the user's code.
//!
//! The tasks run in a created process (a [`Runner`]), never in the rank's
//! own process: a task that panics, aborts, is killed or times out fails
//! at its index and its process is replaced, while the rank goes on
//! serving. The rank passes each batch of tasks on to that process as it
//! came, and sends rank 0 every answer it has, in one message.

use std::time::Duration;

use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, Destination, Source};

use crate::error::{Error, Result};
use crate::mpi::runner::{self, Runner};
use crate::mpi::transport;
use crate::mpi::wire::{self, BatchHeader, ResultHeader};
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
        match Server::new() {
            Ok(server) => server.run(&world),
            Err(error) => eprintln!("pprocess: a worker rank cannot serve: {error}"),
        }
        root.send_with_tag(&[0u8; 0][..], wire::BYE);
    }
    drop(world);
    drop(universe);
    sys::exit_now(0)
}

struct Server {
    /// Where new tasks go.
    tasks: Runner,
    /// Runners of an earlier timeout that still hold tasks: the tasks
    /// given before keep the timeout they came with, without holding up
    /// the new ones.
    retired: Vec<Runner>,
    /// Answers not yet sent to rank 0.
    ready: Vec<Vec<u8>>,
    quit: bool,
}

impl Server {
    fn new() -> Result<Self> {
        Ok(Server {
            tasks: Runner::new(None)?,
            retired: Vec::new(),
            ready: Vec::new(),
            quit: false,
        })
    }

    /// Whether tasks are held by any runner.
    fn holds(&self) -> bool {
        self.tasks.holds() || !self.retired.is_empty()
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
                self.retired.retain(Runner::holds);
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
            wire::TASK => match BatchHeader::read(&message) {
                Some(header) => self.start(header, message),
                None => eprintln!("pprocess: a worker rank got a task without a header"),
            },
            wire::QUIT => {
                // Ends the rank's processes (killed and reaped) at once.
                self.quit = true;
                self.retired.clear();
                self.ready.clear();
                if let Ok(runner) = Runner::new(None) {
                    self.tasks = runner;
                }
            }
            _ => eprintln!("pprocess: a worker rank got a message with tag {tag}"),
        }
    }

    fn start(&mut self, header: BatchHeader, batch: Vec<u8>) {
        if header.timeout() != self.tasks.timeout() {
            match Runner::new(header.timeout()) {
                Ok(runner) => {
                    let old = std::mem::replace(&mut self.tasks, runner);
                    if old.holds() {
                        self.retired.push(old);
                    }
                }
                Err(error) => {
                    self.refuse(&batch, &error);
                    return;
                }
            }
        }
        self.tasks.add(batch);
    }

    /// Answers every task of `batch` with `error`.
    fn refuse(&mut self, batch: &[u8], error: &Error) {
        let (Some(header), Some(tasks)) = (BatchHeader::read(batch), wire::tasks(batch)) else {
            return;
        };
        for (task, _) in tasks {
            let answer = ResultHeader {
                job: header.job,
                task,
            };
            let error = Error::Remote {
                rank: 0,
                message: error.to_string(),
            };
            self.ready.push(runner::failed(answer, error));
        }
    }

    /// Sends every ready answer to rank 0, in one message. While the send
    /// waits for rank 0 (a large answer), the rank keeps taking rank 0's
    /// messages, so that the two never wait for each other.
    fn send_answers(&mut self, world: &SimpleCommunicator) {
        if self.ready.is_empty() {
            return;
        }
        let busy = self.retired.iter_mut().map(Runner::take_busy).sum();
        let mut message = wire::result_message(self.tasks.take_busy() + busy);
        for answer in self.ready.drain(..) {
            wire::push_answer(&mut message, &answer);
        }
        mpi::request::scope(|scope| {
            let root = world.process_at_rank(0);
            let mut request = root.immediate_send_with_tag(scope, &message[..], wire::RESULT);
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
