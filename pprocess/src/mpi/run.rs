//! Rank 0's side: the worker ranks it hands tasks to ([`Ranks`]), and the
//! run of one collection over them ([`Run`]).
//!
//! Each worker is kept supplied with tasks ahead of its answers, in
//! batches, as many as its [`Pace`] gives (about 4 ms of work, 2 to 8192
//! tasks), so it never waits for a round trip to rank 0 between tasks.
//! Inputs are taken from the user's iterator only when a batch is sent,
//! so an endless iterator works and at most the workers' depth of inputs
//! is held. Several collections may run at once: a result for
//! another one waits in a mailbox until that one looks.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, Destination, Source};
use serde::de::DeserializeOwned;

use crate::collections::backend::Backend;
use crate::error::{Error, Result};
use crate::mpi::pace::{BATCH_BYTES, Pace};
use crate::mpi::transport;
use crate::mpi::wire::{self, BatchHeader, Failure, ResultHeader};
use crate::wire::codec;

/// How long past its tasks' timeout a rank may stay silent: its own
/// process limit kills a task at the timeout and answers at once, so a
/// rank silent this much longer is stuck.
const GRACE: Duration = Duration::from_secs(1);

/// The code rank 0 aborts the job with when a rank was found silent:
/// MPI cannot end a job cleanly while one of its ranks is stuck.
const ABORT_CODE: i32 = 70;

/// The worker ranks, seen from rank 0.
pub(crate) struct Ranks {
    world: SimpleCommunicator,
    state: RefCell<State>,
    /// Dropped last: ends MPI.
    _universe: Universe,
}

struct State {
    /// Worker rank `r` is at index `r - 1`.
    workers: Vec<WorkerRank>,
    /// Results that arrived for another run than the one waiting, by job.
    mailbox: HashMap<u32, VecDeque<(usize, Vec<u8>)>>,
    /// The runs not dropped.
    live: HashSet<u32>,
    next_job: u32,
}

struct WorkerRank {
    /// Tasks sent and not yet answered, of every run.
    in_flight: usize,
    pace: Pace,
    /// The run whose tasks set the pace: another run's tasks may take
    /// another time.
    paced: u32,
    /// When it last answered (or was first given work).
    heard: Instant,
    /// Set once it was silent too long: it gets no more work.
    silent: Option<Duration>,
}

impl Ranks {
    /// Checks every worker's fingerprint against `fingerprint`, and tells
    /// each to serve, or, if one differs, to quit.
    pub(crate) fn start(universe: Universe, fingerprint: u64) -> Result<Ranks> {
        let world = universe.world();
        let size = usize::try_from(world.size()).unwrap_or(1);
        let mut mismatch = None;
        for rank in 1..world.size() {
            let (theirs, _) = world
                .process_at_rank(rank)
                .receive_with_tag::<u64>(wire::HELLO);
            if theirs != fingerprint && mismatch.is_none() {
                mismatch = Some(rank as usize);
            }
        }
        let verdict = u8::from(mismatch.is_none());
        for rank in 1..world.size() {
            world
                .process_at_rank(rank)
                .send_with_tag(&verdict, wire::VERDICT);
        }
        if let Some(rank) = mismatch {
            return Err(Error::BuildMismatch { rank });
        }
        let now = Instant::now();
        let workers = (1..size)
            .map(|_| WorkerRank {
                in_flight: 0,
                pace: Pace::default(),
                paced: 0,
                heard: now,
                silent: None,
            })
            .collect();
        Ok(Ranks {
            world,
            state: RefCell::new(State {
                workers,
                mailbox: HashMap::new(),
                live: HashSet::new(),
                next_job: 0,
            }),
            _universe: universe,
        })
    }

    /// The number of worker ranks.
    pub(crate) fn workers(&self) -> usize {
        self.state.borrow().workers.len()
    }
}

impl Drop for Ranks {
    fn drop(&mut self) {
        let state = self.state.get_mut();
        if state.workers.iter().any(|worker| worker.silent.is_some()) {
            eprintln!("pprocess: an MPI rank is stuck; aborting the job");
            self.world.abort(ABORT_CODE);
        }
        for rank in 1..self.world.size() {
            self.world
                .process_at_rank(rank)
                .send_with_tag(&[0u8; 0][..], wire::QUIT);
        }
        // Whatever they still send is for runs that were dropped.
        let mut left = state.workers.len();
        while left > 0 {
            if let Some(arrived) = transport::wait(&self.world, None) {
                let (_, _, tag) = transport::receive(arrived);
                if tag == wire::BYE {
                    left -= 1;
                }
            }
        }
    }
}

/// The run of one collection over the worker ranks: tasks numbered from
/// 0 in input order, results handed over as they arrive.
pub(crate) struct Run<'c, T> {
    ranks: &'c Ranks,
    job: u32,
    /// Each input's encoded task message (header room first), taken as
    /// tasks are sent.
    inputs: Box<dyn Iterator<Item = Result<Vec<u8>>> + 'c>,
    /// Where the function is in the registry.
    entry: Option<u32>,
    /// Tasks numbered so far.
    given: usize,
    /// Tasks numbered (to reach them by index) and not yet sent.
    numbered: VecDeque<(usize, Result<Vec<u8>>)>,
    /// The worker holding each task sent and not answered.
    held: HashMap<usize, usize>,
    /// Tasks that failed before they were sent.
    failed: VecDeque<(usize, Error)>,
    /// How many worker ranks it uses, from the first.
    limit: usize,
    timeout: Option<Duration>,
    result: PhantomData<fn() -> T>,
}

impl<'c, T: DeserializeOwned> Run<'c, T> {
    /// A run of the function registered as `name` on `inputs`, each
    /// encoded by `encode` after a task header's room.
    pub(crate) fn new(
        ranks: &'c Ranks,
        name: &str,
        inputs: Box<dyn Iterator<Item = Result<Vec<u8>>> + 'c>,
        limit: Option<usize>,
        timeout: Option<Duration>,
    ) -> Self {
        let job = {
            let mut state = ranks.state.borrow_mut();
            state.next_job = state.next_job.wrapping_add(1);
            let job = state.next_job;
            state.live.insert(job);
            job
        };
        Run {
            ranks,
            job,
            inputs,
            entry: crate::mpi::registry::index_of(name),
            given: 0,
            numbered: VecDeque::new(),
            held: HashMap::new(),
            failed: VecDeque::new(),
            limit: limit.unwrap_or(usize::MAX).max(1),
            timeout,
            result: PhantomData,
        }
    }

    /// Waits until at least one task has ended, then passes every result
    /// there is to `sink` as `(task, result)`. Returns `false` once no task
    /// is left unreported.
    fn wait_for_results(&mut self, sink: &mut dyn FnMut(usize, Result<T>)) -> bool {
        self.give();
        loop {
            let mut reported = self.report_failed(sink);
            reported |= self.report_mail(sink);
            if reported {
                self.give();
                return true;
            }
            if self.held.is_empty() {
                self.give();
                if self.held.is_empty() && self.failed.is_empty() && self.numbered.is_empty() {
                    return false;
                }
                continue;
            }
            match transport::wait(&self.ranks.world, self.silence_deadline()) {
                Some(arrived) => {
                    self.route(transport::receive(arrived));
                    while let Some(arrived) = transport::probe(&self.ranks.world) {
                        self.route(transport::receive(arrived));
                    }
                }
                None => self.fail_silent_ranks(),
            }
        }
    }

    /// Sends batches of tasks to every worker with room for them.
    fn give(&mut self) {
        let mut state = self.ranks.state.borrow_mut();
        let used = state.workers.len().min(self.limit);
        if used == 0 || state.workers[..used].iter().all(|w| w.silent.is_some()) {
            // Nobody is left to run them.
            let error = || Error::Remote {
                rank: 0,
                message: "no MPI rank is left to run tasks".into(),
            };
            // One at a time: the inputs may be endless.
            if let Some((task, _)) = self.next_task() {
                self.failed.push_back((task, error()));
            }
            return;
        }
        for index in 0..used {
            loop {
                let worker = &mut state.workers[index];
                if worker.paced != self.job && worker.in_flight == 0 {
                    // A new function, maybe: one task at a time until
                    // its pace is known.
                    worker.pace = Pace::default();
                    worker.paced = self.job;
                }
                let room = worker.pace.depth().saturating_sub(worker.in_flight);
                if worker.silent.is_some() || room == 0 {
                    break;
                }
                let Some((batch, tasks)) = self.batch(room.min(worker.pace.batch())) else {
                    // Every input is taken (or failed).
                    return;
                };
                if worker.in_flight == 0 {
                    worker.heard = Instant::now();
                }
                worker.in_flight += tasks.len();
                for task in tasks {
                    self.held.insert(task, index);
                }
                self.ranks
                    .world
                    .process_at_rank(index as i32 + 1)
                    .send_with_tag(&batch[..], wire::TASK);
            }
        }
    }

    /// A batch of up to `most` tasks (and at most [`BATCH_BYTES`] of
    /// arguments, but at least one task), and the tasks in it; tasks
    /// that cannot be sent fail. `None` once no input is left.
    fn batch(&mut self, most: usize) -> Option<(Vec<u8>, Vec<usize>)> {
        let mut batch = BatchHeader {
            job: self.job,
            entry: self.entry.unwrap_or(u32::MAX),
            timeout: BatchHeader::timeout_field(self.timeout),
        }
        .batch();
        let mut tasks = Vec::new();
        while tasks.len() < most && batch.len() < BATCH_BYTES {
            let Some((task, input)) = self.next_task() else {
                break;
            };
            let pushed = match (input, self.entry) {
                (Ok(args), Some(_)) => wire::push_task(&mut batch, task as u64, |out| {
                    out.extend_from_slice(&args);
                    Ok(())
                }),
                (Err(error), _) => Err(error),
                (Ok(_), None) => Err(Error::Remote {
                    rank: 0,
                    message: "the function is not registered on this rank".into(),
                }),
            };
            match pushed {
                Ok(()) => tasks.push(task),
                Err(error) => self.failed.push_back((task, error)),
            }
        }
        if tasks.is_empty() {
            return None;
        }
        Some((batch, tasks))
    }

    /// The next task to send: one numbered already, or the next input.
    fn next_task(&mut self) -> Option<(usize, Result<Vec<u8>>)> {
        if let Some(numbered) = self.numbered.pop_front() {
            return Some(numbered);
        }
        let input = self.inputs.next()?;
        self.given += 1;
        Some((self.given - 1, input))
    }

    fn report_failed(&mut self, sink: &mut dyn FnMut(usize, Result<T>)) -> bool {
        let reported = !self.failed.is_empty();
        for (task, error) in self.failed.drain(..) {
            sink(task, Err(error));
        }
        reported
    }

    fn report_mail(&mut self, sink: &mut dyn FnMut(usize, Result<T>)) -> bool {
        let mail = self.ranks.state.borrow_mut().mailbox.remove(&self.job);
        let Some(mail) = mail else {
            return false;
        };
        for (rank, message) in mail {
            if let Some(header) = ResultHeader::read(&message) {
                let task = header.task as usize;
                if self.held.remove(&task).is_some() {
                    sink(task, decode(&message, rank));
                }
            }
        }
        true
    }

    /// Takes a message from a worker: each answer in it goes to its run's
    /// mailbox.
    fn route(&mut self, (message, rank, tag): (Vec<u8>, usize, i32)) {
        if tag != wire::RESULT {
            return;
        }
        let mut state = self.ranks.state.borrow_mut();
        let state = &mut *state;
        let mut count = 0;
        let (busy, answers) = wire::answers(&message);
        for answer in answers {
            let Some(header) = ResultHeader::read(answer) else {
                continue;
            };
            count += 1;
            if state.live.contains(&header.job) {
                state
                    .mailbox
                    .entry(header.job)
                    .or_default()
                    .push_back((rank, answer.to_vec()));
            }
        }
        if let Some(worker) = rank.checked_sub(1).and_then(|i| state.workers.get_mut(i)) {
            let now = Instant::now();
            worker.in_flight = worker.in_flight.saturating_sub(count);
            worker.pace.answered(busy, count);
            worker.heard = now;
        }
    }

    /// How long a rank holding tasks may stay silent: `None` without a
    /// timeout (a task may then run for ever).
    fn silence_limit(&self) -> Option<Duration> {
        self.timeout.map(|timeout| timeout * 2 + GRACE)
    }

    /// When the first rank holding this run's tasks runs out of silence
    /// (now, for a rank another run found silent).
    fn silence_deadline(&self) -> Option<Instant> {
        let state = self.ranks.state.borrow();
        let limit = self.silence_limit();
        self.held
            .values()
            .filter_map(|&index| {
                let worker = &state.workers[index];
                match worker.silent {
                    Some(_) => Some(worker.heard),
                    None => limit.map(|limit| worker.heard + limit),
                }
            })
            .min()
    }

    /// Fails the tasks held by ranks silent past the limit (or found
    /// silent by another run); they get no more work.
    fn fail_silent_ranks(&mut self) {
        let limit = self.silence_limit();
        let now = Instant::now();
        let mut state = self.ranks.state.borrow_mut();
        if let Some(limit) = limit {
            for worker in &mut state.workers {
                if worker.in_flight > 0 && worker.silent.is_none() && now >= worker.heard + limit {
                    worker.silent = Some(limit);
                }
            }
        }
        let silent: Vec<usize> = self
            .held
            .iter()
            .filter(|&(_, &index)| state.workers[index].silent.is_some())
            .map(|(&task, _)| task)
            .collect();
        for task in silent {
            let index = self.held.remove(&task).unwrap_or(0);
            let after = state.workers[index].silent.unwrap_or_default();
            self.failed.push_back((
                task,
                Error::RankSilent {
                    rank: index + 1,
                    after,
                },
            ));
        }
    }
}

impl<T: DeserializeOwned> Backend<T> for Run<'_, T> {
    fn tasks(&self) -> usize {
        self.given
    }

    fn to_give(&self) -> (usize, Option<usize>) {
        self.inputs.size_hint()
    }

    fn give_next(&mut self) -> bool {
        match self.inputs.next() {
            Some(input) => {
                self.numbered.push_back((self.given, input));
                self.given += 1;
                true
            }
            None => false,
        }
    }

    fn advance(&mut self, found: &mut dyn FnMut(usize, Result<T>)) -> Result<bool> {
        Ok(self.wait_for_results(found))
    }
}

/// The result in a result message from `rank`.
fn decode<T: DeserializeOwned>(message: &[u8], rank: usize) -> Result<T> {
    match codec::decode::<std::result::Result<T, Failure>>(&message[ResultHeader::SIZE..]) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(failure)) => Err(failure.into_error(rank)),
        Err(error) => Err(error),
    }
}

impl<T> Drop for Run<'_, T> {
    fn drop(&mut self) {
        // Results still to come for this run are dropped as they arrive.
        let mut state = self.ranks.state.borrow_mut();
        state.mailbox.remove(&self.job);
        state.live.remove(&self.job);
    }
}
