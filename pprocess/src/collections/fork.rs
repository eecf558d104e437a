//! The fork backend: [`Processes`] runs a collection's tasks in created
//! processes on this machine, through an [`Exchange`] whose handler
//! ([`Collector`]) keeps what arrives until the collection takes it. A
//! `pmap` with reuse runs on the engine of `crate::reused_pmap`, driven
//! from here.

use std::cell::RefCell;
use std::collections::HashMap;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::channel::Channel;
use crate::collections::backend::Backend;
use crate::collections::batches::{Batches, InputBatches};
use crate::cores::get_number_of_cores;
use crate::error::{Error, Result};
use crate::exchange::callable::{Callable, MakeParallel};
use crate::exchange::managed::Managed;
use crate::exchange::{Exchange, Handler, Served};
use crate::reused_pmap::board::Board;
use crate::reused_pmap::runs::{Found, Runs};
use crate::reused_pmap::serve::serve_inputs;

/// The handler of a collection's exchange: results as they arrive, by
/// task number, until the collection takes them; and what the creator
/// knows of the `pmap` runs with reuse, whose answers are results too.
pub(crate) struct Collector<T> {
    found: Found<T>,
    runs: Runs,
}

impl<T: DeserializeOwned> Handler for Collector<T> {
    fn store_data(&mut self, channel: &mut Channel, task: usize) -> Result<()> {
        self.found.push((task, channel.receive()));
        Ok(())
    }

    fn store_error(&mut self, task: usize, error: Error) -> Result<()> {
        self.found.push((task, Err(error)));
        Ok(())
    }
}

/// How long a collection waiting for results lets answers gather in the
/// rings of its serving processes before it takes them: each wake-up
/// takes a CPU from the processes if they are using them all, so one
/// wake-up is better than one per answer. An answer is seen this long
/// after it was made at most.
const GATHER: Duration = Duration::from_millis(2);

/// Makes the loop of a serving process for a place on its run's board.
type ServerLoop<'env> =
    Rc<dyn Fn(usize) -> Box<dyn FnOnce(&mut Channel) -> ExitCode + 'env> + 'env>;

/// Created processes on this machine running the tasks of one collection.
pub(crate) struct Processes<'env, T> {
    exchange: Exchange<'env, Collector<T>>,
    /// For each `pmap` run with reuse whose inputs are not all taken, by
    /// run number: makes the loop of a process that takes the run's inputs,
    /// for a place on its board.
    server_loops: HashMap<usize, ServerLoop<'env>>,
    /// The inputs of the last `pmap` with reuse not yet taken (see
    /// [`Batches`]). A `pmap` takes those of the one before it first, so
    /// there is one at most.
    batches: Option<Box<dyn Batches<'env, T> + 'env>>,
    /// The last wait let answers gather for [`GATHER`] and brought none:
    /// the next sleeps until a serving process announces one.
    quiet: bool,
    /// How many inputs a serving process runs before it ends and a new
    /// one takes its place (`Map::max_tasks`); no limit if `None`.
    tasks_per_process: Option<usize>,
}

impl<'env, T: DeserializeOwned> Processes<'env, T> {
    /// No task yet, at most [`get_number_of_cores`] processes at once.
    pub(crate) fn new() -> Self {
        Processes {
            exchange: Exchange::with_handler(Collector {
                found: Vec::new(),
                runs: Runs::default(),
            })
            .limit(get_number_of_cores()),
            server_loops: HashMap::new(),
            batches: None,
            quiet: false,
            tasks_per_process: None,
        }
    }

    /// Ends each serving process after `tasks` inputs (at least 1).
    pub(crate) fn retire_after(&mut self, tasks: usize) {
        self.tasks_per_process = Some(tasks.max(1));
    }

    /// Changes the exchange's settings (`limit`, `timeout`, `reuse`, ...).
    pub(crate) fn configure(
        mut self,
        change: impl FnOnce(Exchange<'env, Collector<T>>) -> Exchange<'env, Collector<T>>,
    ) -> Self {
        self.exchange = change(self.exchange);
        self
    }

    /// The exchange, for callers that add channels of their own
    /// (persistent queues).
    pub(crate) fn exchange_mut(&mut self) -> &mut Exchange<'env, Collector<T>> {
        &mut self.exchange
    }

    /// Starts a task; see [`Exchange::start`]. It comes after every `pmap`
    /// input given before.
    pub(crate) fn start<F, R>(&mut self, f: F) -> usize
    where
        F: FnOnce(&mut Channel) -> R + 'env,
        R: std::process::Termination,
    {
        self.take_all_batches();
        self.exchange.start(f)
    }

    /// Wraps `callable` so that each call starts a task; see
    /// [`Exchange::manage`].
    pub(crate) fn manage<C>(&mut self, callable: C) -> Managed<'_, 'env, Collector<T>, C> {
        self.take_all_batches();
        self.exchange.manage(callable)
    }

    /// Creates a process, fork-style, as a task, once there is room; see
    /// [`Exchange::create`]. It comes after every `pmap` input given
    /// before.
    pub(crate) fn create(&mut self) -> Result<Option<Channel>> {
        self.take_all_batches();
        self.exchange.create()
    }

    /// Waits at most `timeout` for results (see [`Exchange::store`]) and
    /// passes those that arrived to `found`.
    pub(crate) fn store(
        &mut self,
        timeout: Option<Duration>,
        found: &mut dyn FnMut(usize, Result<T>),
    ) -> Result<()> {
        let outcome = self.exchange.store(timeout);
        self.take_served();
        self.pass_found(found);
        outcome
    }

    /// Whether a process runs, or a task waits to start; see
    /// [`Exchange::unfinished`].
    pub(crate) fn unfinished(&self) -> bool {
        self.exchange.unfinished()
    }

    /// Makes a task of each input, after those given before; with reuse,
    /// serving processes take them a batch at a time (see `Map::pmap`).
    pub(crate) fn pmap<I, F>(&mut self, function: F, inputs: I)
    where
        I: IntoIterator,
        I::IntoIter: 'env,
        I::Item: 'env,
        F: Fn(I::Item) -> T + 'env,
        T: Serialize,
    {
        // Its inputs come after those of earlier calls.
        self.take_all_batches();
        if self.exchange.reuses() {
            let batches = InputBatches::new(inputs.into_iter(), function);
            self.batches = Some(Box::new(batches));
            self.serve_next_batch();
        } else {
            self.start_each_input(Rc::new(function), inputs.into_iter());
        }
    }

    /// Starts a process for each input, as processes free up.
    fn start_each_input<A, F>(&mut self, function: Rc<F>, inputs: impl Iterator<Item = A> + 'env)
    where
        A: 'env,
        F: Fn(A) -> T + 'env,
        T: Serialize,
    {
        let function = Rc::new(MakeParallel::new(move |input| (*function)(input)));
        self.exchange.start_each(inputs.map(move |input| {
            let function = Rc::clone(&function);
            move |channel: &mut Channel| function.call(channel, input)
        }));
    }

    /// Serves a batch of `inputs` of a `pmap` with reuse: forks processes
    /// that take them from a board (see [`start_run`](Self::start_run)), or, if no
    /// shared memory can be had, a process per input.
    pub(crate) fn serve_batch<A, F>(&mut self, inputs: Vec<A>, function: Rc<F>)
    where
        A: 'env,
        F: Fn(A) -> T + 'env,
        T: Serialize,
    {
        let places = self.exchange.process_limit().unwrap_or(1).min(inputs.len());
        match Board::new(inputs.len(), places) {
            Ok(board) => self.start_run(board, inputs, function, places),
            Err(_) => self.start_each_input(function, inputs.into_iter()),
        }
    }

    /// Serves the next batch of the `pmap` inputs not yet taken; `false`
    /// if none is left.
    fn serve_next_batch(&mut self) -> bool {
        let Some(mut batches) = self.batches.take() else {
            return false;
        };
        let served = batches.serve_next(self);
        if served && batches.size_hint().1 != Some(0) {
            self.batches = Some(batches);
        }
        served
    }

    /// Takes every `pmap` input not yet taken: tasks given after a `pmap`
    /// come after all its inputs.
    fn take_all_batches(&mut self) {
        while self.serve_next_batch() {}
    }

    /// Starts `places` processes that take `inputs` from `board` one at a
    /// time and leave what `function` makes of each in their rings (see
    /// [`serve_inputs`]).
    fn start_run<A, F>(&mut self, board: Board, inputs: Vec<A>, function: Rc<F>, places: usize)
    where
        A: 'env,
        F: Fn(A) -> T + 'env,
        T: Serialize,
    {
        let board = Rc::new(board);
        let first = self.exchange.reserve_tasks(inputs.len());
        let run = self
            .exchange
            .handler_mut()
            .runs
            .add_run(Rc::clone(&board), first);
        // Each process has its own copy of the inputs and takes each one
        // it is given out of its copy.
        let inputs = Rc::new(RefCell::new(
            inputs.into_iter().map(Some).collect::<Vec<_>>(),
        ));
        let budget = self.tasks_per_process;
        self.server_loops.insert(
            run,
            Rc::new(move |place| {
                let (board, inputs, function) =
                    (Rc::clone(&board), Rc::clone(&inputs), Rc::clone(&function));
                Box::new(move |channel: &mut Channel| {
                    serve_inputs(channel, &board, place, &inputs, &*function, budget)
                })
            }),
        );
        for place in 0..places {
            self.start_server(run, place);
        }
    }

    /// Starts a process for `place` on the board of `run`.
    fn start_server(&mut self, run: usize, place: usize) {
        let (Some(make_loop), Some(board)) = (
            self.server_loops.get(&run),
            self.exchange.handler().runs.board(run),
        ) else {
            return;
        };
        let server_loop = make_loop(place);
        let board = Rc::clone(board);
        let answers_waiting = Box::new(move || board.ring(place).used() > 0);
        let server = self.exchange.start_serving(server_loop, answers_waiting);
        self.exchange
            .handler_mut()
            .runs
            .add_server(server, run, place);
    }

    /// Replaces the serving processes that failed while inputs of their
    /// run were left.
    fn replace_failed_servers(&mut self) {
        while let Some((run, place)) = self.exchange.handler_mut().runs.next_vacant() {
            self.start_server(run, place);
        }
    }

    /// Once every input of a run is taken, no process will be forked for
    /// it again: frees the creator's copy of its inputs (the processes
    /// that hold inputs have copies of their own), and forgets the runs
    /// whose processes have all ended.
    fn settle(&mut self) {
        let runs = &mut self.exchange.handler_mut().runs;
        self.server_loops
            .retain(|&run, _| runs.board(run).is_some_and(|board| !board.all_taken()));
        runs.release_finished_runs();
    }

    /// Gives the engine what its serving processes sent and how they
    /// ended; kills those whose answers cannot be read.
    fn take_served(&mut self) {
        let served: Vec<_> = self.exchange.take_served().collect();
        for (server, event) in served {
            let collector = self.exchange.handler_mut();
            let runs = &mut collector.runs;
            match event {
                Served::Message(message) => {
                    if !runs.store_message(server, message, &mut collector.found) {
                        self.exchange.kill_server(server);
                    }
                }
                Served::End { pid, failure } => {
                    // A clean end fails the input it held, if any: it
                    // ended without answering it.
                    let error = failure.unwrap_or(Error::NoResult { pid, code: 0 });
                    runs.server_failed(server, error, true, &mut collector.found);
                }
            }
        }
    }

    /// Passes the results found so far to `found`.
    fn pass_found(&mut self, found: &mut dyn FnMut(usize, Result<T>)) {
        let collector = self.exchange.handler_mut();
        if collector.found.is_empty() {
            return;
        }
        // Results came: the next wait lets answers gather first.
        self.quiet = false;
        for (task, result) in collector.found.drain(..) {
            found(task, result);
        }
    }

    /// One wait for results (see [`Backend::advance`]).
    ///
    /// Serving processes leave their answers in rings: while they run, the
    /// results are taken from the rings every [`GATHER`] (one wake-up for
    /// the answers of that time) and, once a wait brought nothing, after
    /// sleeping until a process announces its next answer on its channel.
    fn wait(&mut self) -> Result<bool> {
        self.replace_failed_servers();
        // The next batch's processes start as the last one's end (or, for
        // a batch served a process per input, once all its inputs are
        // given to processes).
        if self.batches.is_some()
            && self.exchange.handler().runs.newest_run_all_taken()
            && self.exchange.source_size_hint().1 == Some(0)
        {
            self.serve_next_batch();
        }
        let collector = self.exchange.handler_mut();
        let answered = collector.runs.take_rings(&mut collector.found);
        for server in collector.runs.take_broken() {
            self.exchange.kill_server(server);
        }
        if !answered.is_empty() {
            for server in answered {
                self.exchange.answered(server);
            }
            return Ok(true);
        }
        let mut timeout = None;
        if self.exchange.serving() {
            if !self.quiet {
                timeout = Some(GATHER);
                self.quiet = true;
            } else if !self.exchange.handler().runs.sleep_until_announced() {
                return Ok(true);
            }
        }
        let outcome = if self.exchange.unfinished() {
            self.exchange.store(timeout).map(|()| true)
        } else {
            Ok(false)
        };
        self.exchange.handler().runs.woke();
        self.take_served();
        outcome
    }
}

impl<'env, T: DeserializeOwned> Backend<T> for Processes<'env, T> {
    fn tasks(&self) -> usize {
        self.exchange.tasks()
    }

    fn to_give(&self) -> (usize, Option<usize>) {
        let from_source = self.exchange.source_size_hint();
        match &self.batches {
            Some(batches) => add_size_hints(from_source, batches.size_hint()),
            None => from_source,
        }
    }

    fn give_next(&mut self) -> bool {
        self.exchange.take_from_source() || self.serve_next_batch()
    }

    fn advance(&mut self, found: &mut dyn FnMut(usize, Result<T>)) -> Result<bool> {
        let outcome = self.wait();
        self.pass_found(found);
        self.settle();
        outcome
    }
}

/// The bounds on the number of items of two iterators one after the
/// other, as [`Iterator::size_hint`] gives them.
pub(crate) fn add_size_hints(
    (least, most): (usize, Option<usize>),
    (more, more_at_most): (usize, Option<usize>),
) -> (usize, Option<usize>) {
    (
        least.saturating_add(more),
        most.zip(more_at_most)
            .and_then(|(most, more)| most.checked_add(more)),
    )
}

impl<T> std::fmt::Debug for Processes<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processes")
            .field("exchange", &self.exchange)
            .finish()
    }
}
