//! [`Map`] and [`pmap`]: results in input order, available as they arrive.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::batches::{Batches, InputBatches};
use crate::board::Board;
use crate::callable::{Callable, MakeParallel};
use crate::channel::Channel;
use crate::codec;
use crate::collection;
use crate::cores::get_number_of_cores;
use crate::error::{Error, Result};
use crate::exchange::{Exchange, Handler};
use crate::managed::Managed;

/// Runs `function` on every input in parallel, one created process per
/// input, at most [`get_number_of_cores`] at once: a parallel `map`.
///
/// Returns a [`Map`] at once, with the first processes started; the other
/// inputs are taken from `inputs` as processes free up, so a long (even
/// endless) input costs no memory up front. Iterate the map to get each
/// result, in input order, as soon as it and all before it have arrived. A task that fails (panics, crashes, cannot be
/// forked) is an `Err` at its own index; the others still arrive.
///
/// The default limit is the number of cores because an unlimited one would
/// fork one process per input at once; see [`pmap_limit`] to choose.
///
/// ```
/// let squares: Vec<u64> = pprocess::pmap(|n: u64| n * n, 0..8)
///     .collect::<pprocess::Result<_>>()?;
/// assert_eq!(squares, [0, 1, 4, 9, 16, 25, 36, 49]);
/// # Ok::<(), pprocess::Error>(())
/// ```
#[must_use = "the map runs the tasks while it is iterated, and dropping it kills its processes: iterate or `collect` it"]
pub fn pmap<'env, I, F, T>(function: F, inputs: I) -> Map<'env, T>
where
    I: IntoIterator,
    I::IntoIter: 'env,
    I::Item: 'env,
    F: Fn(I::Item) -> T + 'env,
    T: Serialize + DeserializeOwned,
{
    pmap_limit(function, inputs, get_number_of_cores())
}

/// [`pmap`] with at most `limit` processes at once.
///
/// ```
/// let text = String::from("borrowed, not serialized");
/// let lengths: Vec<usize> = pprocess::pmap_limit(|n: usize| text.len() + n, 0..3, 2)
///     .collect::<pprocess::Result<_>>()?;
/// assert_eq!(lengths, [24, 25, 26]);
/// # Ok::<(), pprocess::Error>(())
/// ```
#[must_use = "the map runs the tasks while it is iterated, and dropping it kills its processes: iterate or `collect` it"]
pub fn pmap_limit<'env, I, F, T>(function: F, inputs: I, limit: usize) -> Map<'env, T>
where
    I: IntoIterator,
    I::IntoIter: 'env,
    I::Item: 'env,
    F: Fn(I::Item) -> T + 'env,
    T: Serialize + DeserializeOwned,
{
    Map::new().limit(limit).pmap(function, inputs)
}

/// The results a [`Map`] has received, by task number: the handler of its
/// exchange.
pub struct MapResults<T> {
    /// The results of tasks `taken..`, where they have arrived. The ones
    /// iterating took are gone, so an endless map holds only those between
    /// the next to take and the newest to arrive.
    results: VecDeque<Option<Result<T>>>,
    /// How many results iterating has taken (the index of the next).
    taken: usize,
    /// The `pmap` runs with reuse not finished yet, by run number.
    runs: HashMap<usize, Run>,
    /// The number the next run gets.
    next_run: usize,
    /// The serving processes that have not ended, by the number the
    /// exchange knows them by.
    servers: HashMap<usize, Server>,
    /// Places (run, place) whose process failed while inputs of its run
    /// were left: a new process takes each.
    vacant: Vec<(usize, usize)>,
    /// Serving processes whose rings hold garbage, to be killed.
    broken: Vec<usize>,
}

/// A process of a `pmap` with reuse: its run, its place on the run's
/// board, and whether it is retired: it ended, or its answers cannot be
/// trusted (what it sends after is not a result).
struct Server {
    run: usize,
    place: usize,
    retired: bool,
}

/// A `pmap` with reuse (or one batch of its inputs): the board its
/// processes take inputs from, and the index of its first input's result.
struct Run {
    board: Rc<Board>,
    first: usize,
}

impl<T> MapResults<T> {
    /// Keeps the first result of each task (once taken, a task has had
    /// its result).
    fn put(&mut self, task: usize, result: Result<T>) {
        let Some(slot) = task.checked_sub(self.taken) else {
            return;
        };
        if self.results.len() <= slot {
            self.results.resize_with(slot + 1, || None);
        }
        self.results[slot].get_or_insert(result);
    }

    fn has(&self, task: usize) -> bool {
        task < self.taken || self.result(task).is_some()
    }

    /// The result of `task`, if it has arrived and was not taken.
    fn result(&self, task: usize) -> Option<&Result<T>> {
        self.results.get(task.checked_sub(self.taken)?)?.as_ref()
    }

    /// Takes the next result (iterating), which must have arrived.
    fn take_next(&mut self) -> Option<Result<T>> {
        self.taken += 1;
        self.results.pop_front().flatten()
    }

    /// Adds a run, and returns its number.
    fn add_run(&mut self, run: Run) -> usize {
        let number = self.next_run;
        self.next_run += 1;
        self.runs.insert(number, run);
        number
    }

    /// Whether the newest run's inputs are all taken (or there is none).
    fn newest_run_all_taken(&self) -> bool {
        let newest = self.next_run.checked_sub(1);
        newest
            .and_then(|run| self.runs.get(&run))
            .is_none_or(|run| run.board.all_taken())
    }

    /// Forgets the runs whose inputs are all taken and whose processes have
    /// all ended (their answers are stored): their shared memory is freed
    /// once the last process's probe lets go of it.
    fn release_finished_runs(&mut self) {
        let (servers, vacant) = (&self.servers, &self.vacant);
        self.runs.retain(|&number, run| {
            !run.board.all_taken()
                || servers.values().any(|server| server.run == number)
                || vacant.iter().any(|&(vacant_run, _)| vacant_run == number)
        });
    }
}

impl<T: DeserializeOwned> MapResults<T> {
    /// A serving process failed with `error` (or ended: then `error` is
    /// `NoResult` with its exit code). The answers it left in its ring are
    /// stored, then the input it held gets the error (unless it answered
    /// it already). One that held none (it could not be forked, or died
    /// before it took its first input) gives the error to the next input
    /// nobody has taken, as a process per task would: each failure costs
    /// one input at most, so replacing failed processes ends. Once the
    /// process has `ended`, a new one takes its place while inputs are
    /// left.
    fn server_failed(&mut self, server: usize, error: Error, ended: bool) {
        let Some(Server {
            run,
            place,
            retired,
        }) = self.servers.get_mut(&server)
        else {
            return;
        };
        let (run, place, retired_before) = (*run, *place, *retired);
        *retired = true;
        let Run { board, first } = &self.runs[&run];
        let (board, first) = (Rc::clone(board), *first);
        if !retired_before {
            // Bytes in its ring that are not answers are lost with it.
            let _ = self.take_ring(run, place);
            let input = match board.vacate(place) {
                Some(input) => Some(input),
                None => board.take(place).inspect(|_| {
                    board.vacate(place);
                }),
            };
            if let Some(input) = input {
                self.put(first + input, Err(error));
            }
        } else if ended {
            // What a process killed for garbage pushed before it died is
            // not for the next process in its place.
            board.ring(place).discard();
        }
        if ended {
            // Nothing more comes from it.
            self.servers.remove(&server);
            if !board.all_taken() {
                self.vacant.push((run, place));
            }
        }
    }

    /// Stores the answers the serving process at `place` left in its
    /// ring; returns whether there were any.
    fn take_ring(&mut self, run: usize, place: usize) -> Result<bool> {
        let answers = self.runs[&run]
            .board
            .ring(place)
            .take_all()
            .ok_or_else(|| Error::Decode("the answers in shared memory are not frames".into()))?;
        let any = !answers.is_empty();
        for answer in answers {
            self.store_answer(run, &answer)?;
        }
        Ok(any)
    }

    /// Stores the answers in the rings of every serving process not
    /// retired, and returns the processes that had some.
    fn take_rings(&mut self) -> Vec<usize> {
        let mut answered = Vec::new();
        let live: Vec<(usize, usize, usize)> = self
            .servers
            .iter()
            .filter(|(_, server)| !server.retired)
            .map(|(&number, server)| (number, server.run, server.place))
            .collect();
        for (server, run, place) in live {
            match self.take_ring(run, place) {
                Ok(true) => answered.push(server),
                Ok(false) => {}
                // Its ring is garbage: nothing it answers can be trusted.
                // It is killed; its place is taken again once it ended.
                Err(error) => {
                    self.server_failed(server, error, false);
                    self.broken.push(server);
                }
            }
        }
        answered
    }

    /// Asks the processes of every run to announce their next answer;
    /// `false` if answers are already waiting in a ring.
    fn sleep_until_announced(&self) -> bool {
        let asleep = self.runs.iter().all(|(&number, run)| {
            // Only the rings of running processes: a retired one's
            // leftovers are not taken.
            let places = self
                .servers
                .values()
                .filter(|server| server.run == number && !server.retired)
                .map(|server| server.place);
            run.board.sleep_until_announced(places)
        });
        if !asleep {
            self.woke();
        }
        asleep
    }

    /// The processes need not announce answers any more.
    fn woke(&self) {
        for run in self.runs.values() {
            run.board.woke();
        }
    }

    /// Stores an answer of a serving process of `run` (see
    /// [`encode_answer`]) at its input's index; a result that does not
    /// decode is that input's error. An answer without a valid input
    /// number is an error: the process cannot be trusted.
    fn store_answer(&mut self, run: usize, answer: &[u8]) -> Result<()> {
        let Run { board, first } = &self.runs[&run];
        let Some((input, result)) = answer.split_first_chunk::<8>() else {
            return Err(Error::Decode("an answer without its input".into()));
        };
        let input = u64::from_le_bytes(*input);
        let Some(input) = usize::try_from(input)
            .ok()
            .filter(|&input| board.has_input(input))
        else {
            return Err(Error::Decode(format!(
                "an answer for input {input}, which does not exist"
            )));
        };
        let index = first + input;
        self.put(index, codec::decode(result));
        Ok(())
    }
}

/// The loop of a serving process at `place` on `board`: takes the next
/// input nobody has taken out of its copy of `inputs`, calls `function`
/// on it, and leaves the answer in its ring (on `channel` if it does not
/// fit), until no input is left.
fn serve_inputs<A, T: Serialize>(
    channel: &mut Channel,
    board: &Board,
    place: usize,
    inputs: &RefCell<Vec<Option<A>>>,
    function: &dyn Fn(A) -> T,
) -> ExitCode {
    let ring = board.ring(place);
    let mut answer = Vec::new();
    while let Some(input) = board.take(place) {
        let Some(argument) = inputs.borrow_mut()[input].take() else {
            return ExitCode::FAILURE;
        };
        let output = function(argument);
        if let Err(error) = encode_answer(input, &output, &mut answer) {
            // Reported as this input's failure, with the reason.
            panic!("the result of input {input} could not be encoded: {error}");
        }
        // An empty message says "look in my ring", when the creator sleeps
        // until told.
        let sent = if ring.push(&answer) {
            if board.must_announce() {
                channel.send_bytes(&[])
            } else {
                Ok(())
            }
        } else {
            channel.send_bytes(&answer)
        };
        if sent.is_err() {
            return ExitCode::FAILURE;
        }
    }
    // Its end wakes the creator, which takes what is left.
    ExitCode::SUCCESS
}

/// Encodes the answer of a serving process: its input's number (8 bytes,
/// little endian), then the result, decoded apart so that a result that
/// does not decode fails only its own input.
fn encode_answer<T: Serialize>(input: usize, result: &T, answer: &mut Vec<u8>) -> Result<()> {
    answer.clear();
    answer.extend_from_slice(&(input as u64).to_le_bytes());
    codec::encode_into(result, answer)
}

impl<T: DeserializeOwned> Handler for MapResults<T> {
    fn store_data(&mut self, channel: &mut Channel, task: usize) -> Result<()> {
        let Some(server) = self.servers.get(&task) else {
            let result = channel.receive();
            self.put(task, result);
            return Ok(());
        };
        if server.retired {
            // Whatever a retired process still sends is not a result.
            let _ = channel.receive_bytes();
            return Ok(());
        }
        let (run, place) = (server.run, server.place);
        // An answer, or nothing: answers are waiting in the ring.
        let outcome = match channel.receive_bytes() {
            Ok(answer) if answer.is_empty() => self.take_ring(run, place).map(|_| ()),
            Ok(answer) => self.store_answer(run, &answer),
            Err(error) => Err(error),
        };
        if let Err(error) = outcome {
            // A process whose answers cannot be read takes no more inputs;
            // its place is taken again once it has ended.
            channel.kill();
            self.server_failed(task, error, false);
        }
        Ok(())
    }

    fn store_error(&mut self, task: usize, error: Error) -> Result<()> {
        if self.servers.contains_key(&task) {
            self.server_failed(task, error, true);
        } else {
            self.put(task, Err(error));
        }
        Ok(())
    }
}

/// Results in the order their tasks were started: the original module's
/// `Map`.
///
/// Start tasks with [`start`](Map::start) (a closure that sends one `T`) or
/// through a [managed](Map::manage) callable; each task gets the next
/// index. Then iterate: the iterator yields each task's `Result<T>` in index
/// order, as soon as it and all before it have arrived, and never ends
/// early: a failed task is an `Err` at its own index. [`get`](Map::get)
/// waits for one index.
///
/// A new map runs at most [`get_number_of_cores`] processes at once; see
/// [`limit`](Map::limit). Dropping a map kills and reaps its running
/// processes and drops its queued tasks.
///
/// ```
/// use pprocess::Map;
///
/// let mut map = Map::new().limit(3);
/// for word in ["one", "three", "five"] {
///     map.start(move |channel| channel.send(&word.len()));
/// }
/// assert_eq!(map.get(1).unwrap().ok(), Some(&5));
/// let lengths: Vec<usize> = map.collect::<pprocess::Result<_>>()?;
/// assert_eq!(lengths, [3, 5, 4]);
/// # Ok::<(), pprocess::Error>(())
/// ```
#[must_use = "a `Map` does its work while it is iterated, and dropping it kills its processes: iterate it, `collect` it or `get` its results"]
pub struct Map<'env, T> {
    exchange: Exchange<'env, MapResults<T>>,
    /// For each `pmap` run with reuse whose inputs are not all taken, by
    /// run number: makes the loop of a process that takes the run's inputs,
    /// for a place on its board.
    server_loops: HashMap<usize, ServerLoop<'env>>,
    /// The inputs of the last `pmap` with reuse not yet taken (see
    /// [`Batches`]). A `pmap` takes those of the one before it first, so
    /// there is one at most.
    batches: Option<Box<dyn Batches<'env, T> + 'env>>,
}

/// How long a map waiting for results lets answers gather in the rings of
/// its serving processes before it takes them: each wake-up takes a CPU
/// from the processes if they are using them all, so one wake-up is
/// better than one per answer. An answer is seen this long after it was
/// made at most.
const GATHER: Duration = Duration::from_millis(2);

/// Makes the loop of a serving process for a place on its run's board.
type ServerLoop<'env> =
    Rc<dyn Fn(usize) -> Box<dyn FnOnce(&mut Channel) -> ExitCode + 'env> + 'env>;

impl<'env, T: DeserializeOwned> Map<'env, T> {
    /// An empty map running at most [`get_number_of_cores`] processes at
    /// once.
    ///
    /// ```
    /// let mut map = pprocess::Map::<u8>::new();
    /// assert!(map.is_empty());
    /// map.start(|channel| channel.send(&1u8));
    /// assert_eq!(map.next().unwrap()?, 1);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn new() -> Self {
        Map {
            exchange: Exchange::with_handler(MapResults {
                results: VecDeque::new(),
                taken: 0,
                runs: HashMap::new(),
                next_run: 0,
                servers: HashMap::new(),
                vacant: Vec::new(),
                broken: Vec::new(),
            })
            .limit(get_number_of_cores()),
            server_loops: HashMap::new(),
            batches: None,
        }
    }

    collection::pass_to_exchange!(Map, MapResults, take_all_batches);

    /// Reuses processes for [`pmap`](Map::pmap) and for the calls of a
    /// managed [`MakeReusable`](crate::MakeReusable) callable; see
    /// [`Exchange::reuse`]. Results still land at their own index.
    ///
    /// ```
    /// let pids: Vec<u32> = pprocess::Map::new()
    ///     .limit(2)
    ///     .reuse(true)
    ///     .pmap(|_: u32| std::process::id(), 0..100)
    ///     .collect::<pprocess::Result<_>>()?;
    /// let mut distinct = pids.clone();
    /// distinct.sort();
    /// distinct.dedup();
    /// assert!(distinct.len() <= 2); // 100 tasks, two processes at most
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn reuse(mut self, reuse: bool) -> Self {
        self.exchange = self.exchange.reuse(reuse);
        self
    }

    /// Starts `function` on every input, one task each, like [`pmap`]
    /// does for a new map: use it to give a parallel map a
    /// [`timeout`](Map::timeout) or other settings.
    ///
    /// With [`reuse`](Map::reuse), a batch of inputs is collected, then
    /// [`limit`](Map::limit) processes are forked, and each takes the next
    /// input nobody has taken, calls `function` on it and leaves the
    /// result, until none is left. Taking an input is an atomic increment
    /// in memory the processes share with the creator: the inputs are
    /// never sent (a process is a copy of its creator and already has
    /// them, so they need not serialize), and no process waits for its
    /// creator between two inputs. Results are left in that shared memory
    /// too (256 KiB per process; a larger one goes on the process's
    /// channel), where a crash does not lose them: the map takes them in
    /// batches, every 2 ms while it waits, or as soon as one is made when
    /// nothing has come for that long. So a result costs no wake-up of the
    /// creator of its own, and is seen within a few milliseconds.
    ///
    /// Inputs known to be at most 1,048,576 (a `Vec`, a range, a slice) are
    /// one batch. Others (of unknown number, like a reader's lines or an
    /// endless iterator, or of more) are taken 1,024 first, then twice as
    /// many each time up to 65,536: each batch is collected once the last
    /// one's inputs are all taken (or when [`get`](Map::get) reaches into
    /// it) and served by processes forked for it. So an endless iterator
    /// works, and a map iterated in order holds a batch or two of inputs.
    /// A batch is collected before its processes start: `pmap` returns,
    /// and the first result comes, once the first batch is collected. For
    /// inputs that trickle in (a socket, a terminal), or that depend on
    /// the map's own results, use a `pmap` without reuse, which forks a
    /// process for each input as it comes.
    ///
    /// A process that fails (panics, is killed, times out) fails the input
    /// it held, at that input's index, and a new process takes its place
    /// while inputs are left; a process that could not be forked fails the
    /// next input. The [`timeout`](Map::timeout) applies to each input,
    /// counted from when the map took the process's previous result.
    ///
    /// Tasks given to the map after a `pmap` ([`start`](Map::start),
    /// [`manage`](Map::manage), another `pmap`) come after all its inputs:
    /// giving one first takes every input left (with or without reuse).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let map = pprocess::Map::new()
    ///     .limit(2)
    ///     .timeout(Duration::from_secs(60))
    ///     .pmap(|n: u32| n + 1, [1, 2, 3]);
    /// assert_eq!(map.collect::<pprocess::Result<Vec<u32>>>()?, [2, 3, 4]);
    ///
    /// // Endless inputs, with reuse: taken a batch at a time.
    /// let cubes: Vec<u64> = pprocess::Map::new()
    ///     .limit(2)
    ///     .reuse(true)
    ///     .pmap(|n: u64| n * n * n, 1..)
    ///     .take(4)
    ///     .collect::<pprocess::Result<_>>()?;
    /// assert_eq!(cubes, [1, 8, 27, 64]);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn pmap<I, F>(mut self, function: F, inputs: I) -> Self
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
        self
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
        let run = self.exchange.handler_mut().add_run(Run {
            board: Rc::clone(&board),
            first,
        });
        // Each process has its own copy of the inputs and takes each one
        // it is given out of its copy.
        let inputs = Rc::new(RefCell::new(
            inputs.into_iter().map(Some).collect::<Vec<_>>(),
        ));
        self.server_loops.insert(
            run,
            Rc::new(move |place| {
                let (board, inputs, function) =
                    (Rc::clone(&board), Rc::clone(&inputs), Rc::clone(&function));
                Box::new(move |channel: &mut Channel| {
                    serve_inputs(channel, &board, place, &inputs, &*function)
                })
            }),
        );
        for place in 0..places {
            self.start_server(run, place);
        }
    }

    /// Starts a process for `place` on the board of `run`.
    fn start_server(&mut self, run: usize, place: usize) {
        let Some(make_loop) = self.server_loops.get(&run) else {
            return;
        };
        let server_loop = make_loop(place);
        let board = Rc::clone(&self.exchange.handler().runs[&run].board);
        let answers_waiting = Box::new(move || board.ring(place).used() > 0);
        let server = self.exchange.start_serving(server_loop, answers_waiting);
        self.exchange.handler_mut().servers.insert(
            server,
            Server {
                run,
                place,
                retired: false,
            },
        );
    }

    /// Replaces the serving processes that failed while inputs of their
    /// run were left.
    fn replace_failed_servers(&mut self) {
        while let Some((run, place)) = self.exchange.handler_mut().vacant.pop() {
            if !self.exchange.handler().runs[&run].board.all_taken() {
                self.start_server(run, place);
            }
        }
    }

    /// Once every input of a run is taken, no process will be forked for
    /// it again: frees the creator's copy of its inputs (the processes
    /// that hold inputs have copies of their own).
    fn free_taken_inputs(&mut self) {
        let runs = &self.exchange.handler().runs;
        self.server_loops
            .retain(|run, _| runs.get(run).is_some_and(|run| !run.board.all_taken()));
    }

    /// The number of tasks given so far. [`pmap`](Map::pmap) gives its
    /// inputs as processes free up, so this grows as the map is iterated.
    ///
    /// ```
    /// let mut map = pprocess::Map::<u8>::new();
    /// map.start(|channel| channel.send(&1u8));
    /// map.start(|channel| channel.send(&2u8));
    /// assert_eq!(map.len(), 2);
    /// # drop(map);
    /// ```
    pub fn len(&self) -> usize {
        self.exchange.tasks()
    }

    /// Whether no task was given and no `pmap` input is left to give.
    ///
    /// ```
    /// assert!(pprocess::pmap(|n: u8| n, []).is_empty());
    /// assert!(!pprocess::pmap(|n: u8| n, [1]).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0 && self.exchange.source_size_hint().1 == Some(0) && self.batches.is_none()
    }

    /// Waits for the result at `index` and returns it; `None` if no task
    /// has that index, or if iterating the map already took it.
    ///
    /// ```
    /// let mut map = pprocess::pmap(|n: u8| n + 1, [1, 2]);
    /// assert_eq!(map.get(1).unwrap().ok(), Some(&3));
    /// assert!(map.get(2).is_none());
    /// ```
    pub fn get(&mut self, index: usize) -> Option<Result<&T, &Error>> {
        if index < self.exchange.handler().taken {
            return None;
        }
        while index >= self.len() {
            if !self.give_next_task() {
                return None;
            }
        }
        self.wait_for(index);
        self.exchange.handler().result(index).map(Result::as_ref)
    }

    /// Gives the next input of a `pmap` a task number (a batch of them with
    /// reuse); `false` if no input is left.
    fn give_next_task(&mut self) -> bool {
        self.exchange.take_from_source() || self.serve_next_batch()
    }

    /// Stores arriving results until the one at `index` is there.
    ///
    /// Serving processes leave their answers in rings: while they run, the
    /// map takes what the rings hold every [`GATHER`] (one wake-up for the
    /// answers of that time) and, once a wait brought nothing, sleeps until
    /// a process announces its next answer on its channel.
    fn wait_for(&mut self, index: usize) {
        if self.exchange.handler().has(index) {
            return;
        }
        let mut quiet = false;
        while !self.exchange.handler().has(index) {
            self.replace_failed_servers();
            // The next batch's processes start as the last one's end
            // (or, for a batch served a process per input, once all its
            // inputs are given to processes).
            if self.batches.is_some()
                && self.exchange.handler().newest_run_all_taken()
                && self.exchange.source_size_hint().1 == Some(0)
            {
                self.serve_next_batch();
            }
            let answered = self.exchange.handler_mut().take_rings();
            for server in std::mem::take(&mut self.exchange.handler_mut().broken) {
                self.exchange.kill_server(server);
            }
            if !answered.is_empty() {
                for server in answered {
                    self.exchange.answered(server);
                }
                quiet = false;
                continue;
            }
            let mut timeout = None;
            if self.exchange.serving() {
                if !quiet {
                    timeout = Some(GATHER);
                    quiet = true;
                } else if !self.exchange.handler().sleep_until_announced() {
                    continue;
                }
            }
            let outcome = if self.exchange.unfinished() {
                self.exchange.store(timeout)
            } else {
                Err(Error::Lost { task: index })
            };
            self.exchange.handler().woke();
            if let Err(error) = outcome {
                // Poll itself failed, or the result is gone: this index
                // gets the error, so iteration never waits forever.
                self.exchange.handler_mut().put(index, Err(error));
            }
        }
        // Inputs are taken in order: once the last one's result is here,
        // its run frees its inputs.
        self.free_taken_inputs();
        self.exchange.handler_mut().release_finished_runs();
    }
}

impl<T: DeserializeOwned> Default for Map<'_, T> {
    fn default() -> Self {
        Map::new()
    }
}

impl<T: DeserializeOwned> Iterator for Map<'_, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        let next = self.exchange.handler().taken;
        if next >= self.len() && !self.give_next_task() {
            return None;
        }
        self.wait_for(next);
        self.exchange.handler_mut().take_next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.len() - self.exchange.handler().taken;
        let given = (left, Some(left));
        let to_give = self.exchange.source_size_hint();
        let hint = add_size_hints(given, to_give);
        match &self.batches {
            Some(batches) => add_size_hints(hint, batches.size_hint()),
            None => hint,
        }
    }
}

/// The bounds on the number of items of two iterators one after the
/// other, as [`Iterator::size_hint`] gives them.
fn add_size_hints(
    (least, most): (usize, Option<usize>),
    (more, more_at_most): (usize, Option<usize>),
) -> (usize, Option<usize>) {
    (
        least.saturating_add(more),
        most.zip(more_at_most)
            .and_then(|(most, more)| most.checked_add(more)),
    )
}

impl<T> fmt::Debug for Map<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("exchange", &self.exchange)
            .field("next", &self.exchange.handler().taken)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Results of one run of `inputs` inputs on one place, served by the
    /// process known as `SERVER`.
    const SERVER: usize = usize::MAX - 1;

    fn one_run(inputs: usize) -> MapResults<u64> {
        let board = Rc::new(Board::new(inputs, 1).unwrap());
        MapResults {
            results: VecDeque::new(),
            taken: 0,
            runs: HashMap::from([(0, Run { board, first: 0 })]),
            next_run: 1,
            servers: HashMap::from([(
                SERVER,
                Server {
                    run: 0,
                    place: 0,
                    retired: false,
                },
            )]),
            vacant: Vec::new(),
            broken: Vec::new(),
        }
    }

    /// Does what a serving process does with `input`: takes it and leaves
    /// its answer in its ring.
    fn answer_in_ring(results: &MapResults<u64>, input: usize, value: u64) {
        let board = &results.runs[&0].board;
        assert_eq!(board.take(0), Some(input));
        let mut answer = Vec::new();
        encode_answer(input, &value, &mut answer).unwrap();
        assert!(board.ring(0).push(&answer));
    }

    #[test]
    fn a_process_announces_one_answer_to_a_sleeping_creator_and_leaves_all_in_its_ring() {
        let board = Board::new(2, 1).unwrap();
        assert!(board.sleep_until_announced(0..1));
        let inputs = RefCell::new(vec![Some(5u64), Some(6)]);
        let mut channel =
            crate::start(|channel| serve_inputs(channel, &board, 0, &inputs, &|n: u64| n * 10))
                .unwrap();
        assert_eq!(channel.receive_bytes().unwrap(), [0u8; 0], "announced");
        assert!(channel.receive_bytes().is_err(), "announced once");
        assert!(channel.wait().unwrap().success());
        let answers = board.ring(0).take_all().unwrap();
        let mut expected = [Vec::new(), Vec::new()];
        encode_answer(0, &50u64, &mut expected[0]).unwrap();
        encode_answer(1, &60u64, &mut expected[1]).unwrap();
        assert_eq!(answers, expected);
    }

    #[test]
    fn a_process_that_dies_leaves_its_answers_and_fails_the_input_it_held() {
        let mut results = one_run(5);
        answer_in_ring(&results, 0, 10);
        answer_in_ring(&results, 1, 11);
        assert_eq!(results.runs[&0].board.take(0), Some(2));
        let death = Error::Died { pid: 7, signal: 9 };
        results.store_error(SERVER, death).unwrap();
        assert!(matches!(results.results[0], Some(Ok(10))));
        assert!(matches!(results.results[1], Some(Ok(11))));
        assert!(matches!(
            results.results[2],
            Some(Err(Error::Died { pid: 7, signal: 9 }))
        ));
        assert!(!results.has(3));
        assert_eq!(results.vacant, [(0, 0)], "its place is taken again");
    }

    #[test]
    fn a_process_that_dies_after_answering_fails_nothing_and_is_replaced() {
        let mut results = one_run(3);
        answer_in_ring(&results, 0, 10);
        let death = Error::Died { pid: 7, signal: 9 };
        results.store_error(SERVER, death).unwrap();
        assert!(matches!(results.results[0], Some(Ok(10))));
        assert!(!results.has(1), "input 1 is left for the next process");
        assert_eq!(results.vacant, [(0, 0)]);
    }

    #[test]
    fn a_process_that_never_took_an_input_fails_the_next_one() {
        let mut results = one_run(3);
        let no_fork = Error::io("fork", std::io::Error::from_raw_os_error(11));
        results.store_error(SERVER, no_fork).unwrap();
        assert!(matches!(results.results[0], Some(Err(Error::Io { .. }))));
        assert!(!results.has(1));
        assert_eq!(results.vacant, [(0, 0)]);
    }

    #[test]
    fn results_taken_are_dropped_and_a_late_one_for_a_taken_task_is_ignored() {
        let mut results = one_run(1);
        results.put(0, Ok(1));
        results.put(1, Ok(2));
        assert!(matches!(results.take_next(), Some(Ok(1))));
        assert_eq!(results.results.len(), 1, "the taken result is dropped");
        results.put(0, Ok(9));
        assert!(results.has(0));
        assert!(results.result(0).is_none());
        assert!(matches!(results.take_next(), Some(Ok(2))));
        assert!(results.results.is_empty());
    }

    #[test]
    fn a_run_is_forgotten_once_its_inputs_are_taken_and_its_processes_ended() {
        let mut results = one_run(2);
        let board = Rc::clone(&results.runs[&0].board);
        answer_in_ring(&results, 0, 10);
        results.release_finished_runs();
        assert_eq!(results.runs.len(), 1, "input 1 is not taken yet");
        answer_in_ring(&results, 1, 11);
        results.release_finished_runs();
        assert_eq!(results.runs.len(), 1, "its process has not ended");
        let end = Error::NoResult { pid: 7, code: 0 };
        results.store_error(SERVER, end).unwrap();
        assert!(matches!(results.result(0), Some(Ok(10))));
        assert!(matches!(results.result(1), Some(Ok(11))));
        assert!(results.vacant.is_empty(), "no input is left to serve");
        results.release_finished_runs();
        assert!(results.runs.is_empty());
        assert!(results.servers.is_empty());
        assert_eq!(
            Rc::strong_count(&board),
            1,
            "the map holds its board no more"
        );
    }

    #[test]
    fn a_run_whose_failed_process_awaits_a_successor_is_kept() {
        let mut results = one_run(2);
        assert_eq!(results.runs[&0].board.take(0), Some(0));
        results
            .store_error(SERVER, Error::Died { pid: 7, signal: 9 })
            .unwrap();
        assert_eq!(results.vacant, [(0, 0)]);
        results.release_finished_runs();
        assert_eq!(results.runs.len(), 1, "input 1 still needs a process");
    }

    #[test]
    fn a_result_that_does_not_decode_fails_only_its_input() {
        let mut results = one_run(3);
        answer_in_ring(&results, 0, 10);
        let board = Rc::clone(&results.runs[&0].board);
        assert_eq!(board.take(0), Some(1));
        // Input 1's number, and no result after it.
        assert!(board.ring(0).push(&1u64.to_le_bytes()));
        answer_in_ring(&results, 2, 12);
        assert_eq!(results.take_rings(), [SERVER]);
        assert!(matches!(results.results[0], Some(Ok(10))));
        assert!(matches!(results.results[1], Some(Err(Error::Decode(_)))));
        assert!(matches!(results.results[2], Some(Ok(12))));
        assert!(results.broken.is_empty(), "the process is not to blame");
    }

    #[test]
    fn answers_for_inputs_that_do_not_exist_fail_the_process() {
        let mut results = one_run(2);
        assert_eq!(results.runs[&0].board.take(0), Some(0));
        let mut answer = Vec::new();
        encode_answer(99, &1u64, &mut answer).unwrap();
        assert!(results.runs[&0].board.ring(0).push(&answer));
        assert_eq!(results.take_rings(), [0usize; 0]);
        assert!(matches!(results.results[0], Some(Err(Error::Decode(_)))));
        assert_eq!(results.broken, [SERVER], "it is to be killed");
        assert!(results.vacant.is_empty(), "no new process before it ended");
    }
}
