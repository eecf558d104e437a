//! [`Runs`]: what the creator knows of the `pmap` runs with reuse under
//! way: each run's board, the serving processes and the places they hold,
//! and the answers they leave in their rings.

use std::collections::HashMap;
use std::rc::Rc;

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::exchange::work::ServerId;
use crate::reused_pmap::board::Board;
use crate::wire::codec;

/// Results as they are found: `(task, result)`, the task being the
/// input's index among all the tasks of its collection.
pub(crate) type Found<T> = Vec<(usize, Result<T>)>;

/// The `pmap` runs with reuse not finished yet, and their serving
/// processes.
#[derive(Default)]
pub(crate) struct Runs {
    /// The runs, by run number.
    runs: HashMap<usize, Run>,
    /// The number the next run gets.
    next_run: usize,
    /// The serving processes that have not ended, by the number the
    /// exchange knows them by.
    servers: HashMap<ServerId, Server>,
    /// The bytes last taken from a ring, kept to reuse their room.
    taken: Vec<u8>,
    /// Places (run, place) whose process failed while inputs of its run
    /// were left: a new process takes each.
    vacant: Vec<(usize, usize)>,
    /// Serving processes whose rings hold garbage, to be killed.
    broken: Vec<ServerId>,
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
/// processes take inputs from, and the task number of its first input.
struct Run {
    board: Rc<Board>,
    first: usize,
}

impl Runs {
    /// Adds a run whose first input is task `first`, and returns its
    /// number.
    pub(crate) fn add_run(&mut self, board: Rc<Board>, first: usize) -> usize {
        let number = self.next_run;
        self.next_run += 1;
        self.runs.insert(number, Run { board, first });
        number
    }

    /// The board of `run`.
    pub(crate) fn board(&self, run: usize) -> Option<&Rc<Board>> {
        self.runs.get(&run).map(|run| &run.board)
    }

    /// Records that the exchange knows the process serving `place` of
    /// `run` as `server`.
    pub(crate) fn add_server(&mut self, server: ServerId, run: usize, place: usize) {
        let retired = false;
        self.servers.insert(
            server,
            Server {
                run,
                place,
                retired,
            },
        );
    }

    /// Whether the newest run's inputs are all taken (or there is none).
    pub(crate) fn newest_run_all_taken(&self) -> bool {
        let newest = self.next_run.checked_sub(1);
        newest
            .and_then(|run| self.runs.get(&run))
            .is_none_or(|run| run.board.all_taken())
    }

    /// The next place whose process failed while inputs of its run are
    /// left, to be served by a new process.
    pub(crate) fn next_vacant(&mut self) -> Option<(usize, usize)> {
        while let Some((run, place)) = self.vacant.pop() {
            if self.board(run).is_some_and(|board| !board.all_taken()) {
                return Some((run, place));
            }
        }
        None
    }

    /// The serving processes whose rings held garbage, to be killed.
    pub(crate) fn take_broken(&mut self) -> Vec<ServerId> {
        std::mem::take(&mut self.broken)
    }

    /// Forgets the runs whose inputs are all taken and whose processes have
    /// all ended (their answers are stored): their shared memory is freed
    /// once the last process's probe lets go of it.
    pub(crate) fn release_finished_runs(&mut self) {
        let (servers, vacant) = (&self.servers, &self.vacant);
        self.runs.retain(|&number, run| {
            !run.board.all_taken()
                || servers.values().any(|server| server.run == number)
                || vacant.iter().any(|&(vacant_run, _)| vacant_run == number)
        });
    }

    /// A serving process failed with `error` (or ended: then `error` is
    /// `NoResult` with its exit code). The answers it left in its ring are
    /// found, then the input it held gets the error (unless it answered
    /// it already). One that held none (it could not be forked, or died
    /// before it took its first input) gives the error to the next input
    /// nobody has taken, as a process per task would: each failure costs
    /// one input at most, so replacing failed processes ends. Once the
    /// process has `ended`, a new one takes its place while inputs are
    /// left.
    pub(crate) fn server_failed<T: DeserializeOwned>(
        &mut self,
        server: ServerId,
        error: Error,
        ended: bool,
        found: &mut Found<T>,
    ) {
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
            let _ = self.take_ring(run, place, found);
            let input = match board.vacate(place) {
                Some(input) => Some(input),
                None => board.take(place).inspect(|_| {
                    board.vacate(place);
                }),
            };
            if let Some(input) = input {
                found.push((first + input, Err(error)));
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

    /// Finds the answers the serving process at `place` left in its ring;
    /// returns whether there were any.
    fn take_ring<T: DeserializeOwned>(
        &mut self,
        run: usize,
        place: usize,
        found: &mut Found<T>,
    ) -> Result<bool> {
        let run = &self.runs[&run];
        let answers = run
            .board
            .ring(place)
            .take_all(&mut self.taken)
            .ok_or_else(|| Error::Decode("the answers in shared memory are not frames".into()))?;
        let mut any = false;
        for answer in answers {
            run.store_answer(answer, found)?;
            any = true;
        }
        Ok(any)
    }

    /// Finds the answers in the rings of every serving process not
    /// retired, and returns the processes that had some.
    pub(crate) fn take_rings<T: DeserializeOwned>(
        &mut self,
        found: &mut Found<T>,
    ) -> Vec<ServerId> {
        let mut answered = Vec::new();
        let live: Vec<(ServerId, usize, usize)> = self
            .servers
            .iter()
            .filter(|(_, server)| !server.retired)
            .map(|(&number, server)| (number, server.run, server.place))
            .collect();
        for (server, run, place) in live {
            match self.take_ring(run, place, found) {
                Ok(true) => answered.push(server),
                Ok(false) => {}
                // Its ring is garbage: nothing it answers can be trusted.
                // It is killed; its place is taken again once it ended.
                Err(error) => {
                    self.server_failed(server, error, false, found);
                    self.broken.push(server);
                }
            }
        }
        answered
    }

    /// Asks the processes of every run to announce their next answer;
    /// `false` if answers are already waiting in a ring.
    pub(crate) fn sleep_until_announced(&self) -> bool {
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
    pub(crate) fn woke(&self) {
        for run in self.runs.values() {
            run.board.woke();
        }
    }

    /// Takes what serving process `server` sent on its channel: an answer,
    /// or nothing (its answers wait in its ring). Returns `false` if its
    /// answers cannot be read: then it is retired, and must be killed (its
    /// place is taken again once it has ended).
    pub(crate) fn store_message<T: DeserializeOwned>(
        &mut self,
        server: ServerId,
        message: Result<Vec<u8>>,
        found: &mut Found<T>,
    ) -> bool {
        let Some(&Server {
            run,
            place,
            retired,
        }) = self.servers.get(&server)
        else {
            return true;
        };
        if retired {
            // Whatever a retired process still sends is not a result.
            return true;
        }
        let outcome = match message {
            Ok(answer) if answer.is_empty() => self.take_ring(run, place, found).map(|_| ()),
            Ok(answer) => self.runs[&run].store_answer(&answer, found),
            Err(error) => Err(error),
        };
        match outcome {
            Ok(()) => true,
            Err(error) => {
                self.server_failed(server, error, false, found);
                false
            }
        }
    }
}

impl Run {
    /// Finds an answer of a serving process of this run (see
    /// [`encode_answer`](super::serve::encode_answer)) at its input's
    /// task; a result that does not decode is that input's error. An
    /// answer without a valid input number is an error: the process
    /// cannot be trusted.
    fn store_answer<T: DeserializeOwned>(&self, answer: &[u8], found: &mut Found<T>) -> Result<()> {
        let Some((input, result)) = answer.split_first_chunk::<8>() else {
            return Err(Error::Decode("an answer without its input".into()));
        };
        let input = u64::from_le_bytes(*input);
        let Some(input) = usize::try_from(input)
            .ok()
            .filter(|&input| self.board.has_input(input))
        else {
            return Err(Error::Decode(format!(
                "an answer for input {input}, which does not exist"
            )));
        };
        found.push((self.first + input, codec::decode(result)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reused_pmap::serve::{encode_answer, serve_inputs};
    use std::cell::RefCell;

    /// The process known to the exchange as the one serving one run of
    /// `inputs` inputs on one place.
    const SERVER: ServerId = ServerId(7);

    fn one_run(inputs: usize) -> Runs {
        let mut runs = Runs::default();
        let run = runs.add_run(Rc::new(Board::new(inputs, 1).unwrap()), 0);
        runs.add_server(SERVER, run, 0);
        runs
    }

    /// Does what a serving process does with `input`: takes it and leaves
    /// its answer in its ring.
    fn answer_in_ring(runs: &Runs, input: usize, value: u64) {
        let board = runs.board(0).unwrap();
        assert_eq!(board.take(0), Some(input));
        let mut answer = Vec::new();
        encode_answer(input, &value, &mut answer).unwrap();
        assert!(board.ring(0).push(&answer));
    }

    /// The tasks that have a result, as a collection keeps them: the
    /// first result found for each.
    fn kept(found: &Found<u64>) -> std::collections::BTreeMap<usize, &Result<u64>> {
        let mut kept = std::collections::BTreeMap::new();
        for (task, result) in found {
            kept.entry(*task).or_insert(result);
        }
        kept
    }

    #[test]
    fn a_process_announces_one_answer_to_a_sleeping_creator_and_leaves_all_in_its_ring() {
        let board = Board::new(2, 1).unwrap();
        assert!(board.sleep_until_announced(0..1));
        let inputs = RefCell::new(vec![Some(5u64), Some(6)]);
        let mut channel = crate::start(|channel| {
            serve_inputs(channel, &board, 0, &inputs, &|n: u64| n * 10, None)
        })
        .unwrap();
        assert_eq!(channel.receive_bytes().unwrap(), [0u8; 0], "announced");
        assert!(channel.receive_bytes().is_err(), "announced once");
        assert!(channel.wait().unwrap().success());
        let answers = board.ring(0).take_owned().unwrap();
        let mut expected = [Vec::new(), Vec::new()];
        encode_answer(0, &50u64, &mut expected[0]).unwrap();
        encode_answer(1, &60u64, &mut expected[1]).unwrap();
        assert_eq!(answers, expected);
    }

    #[test]
    fn a_process_that_dies_leaves_its_answers_and_fails_the_input_it_held() {
        let mut runs = one_run(5);
        let mut found = Found::<u64>::new();
        answer_in_ring(&runs, 0, 10);
        answer_in_ring(&runs, 1, 11);
        assert_eq!(runs.board(0).unwrap().take(0), Some(2));
        let death = Error::Died { pid: 7, signal: 9 };
        runs.server_failed(SERVER, death, true, &mut found);
        assert!(matches!(found[0], (0, Ok(10))));
        assert!(matches!(found[1], (1, Ok(11))));
        assert!(matches!(
            found[2],
            (2, Err(Error::Died { pid: 7, signal: 9 }))
        ));
        assert_eq!(found.len(), 3, "input 3 is left for the next process");
        assert_eq!(runs.vacant, [(0, 0)], "its place is taken again");
    }

    #[test]
    fn a_process_that_dies_after_answering_fails_nothing_and_is_replaced() {
        let mut runs = one_run(3);
        let mut found = Found::<u64>::new();
        answer_in_ring(&runs, 0, 10);
        let death = Error::Died { pid: 7, signal: 9 };
        runs.server_failed(SERVER, death, true, &mut found);
        let kept = kept(&found);
        assert!(matches!(kept[&0], Ok(10)), "its answer stands");
        assert_eq!(kept.len(), 1, "input 1 is left for the next process");
        assert_eq!(runs.vacant, [(0, 0)]);
    }

    #[test]
    fn a_process_that_never_took_an_input_fails_the_next_one() {
        let mut runs = one_run(3);
        let mut found = Found::<u64>::new();
        let no_fork = Error::io("fork", std::io::Error::from_raw_os_error(11));
        runs.server_failed(SERVER, no_fork, true, &mut found);
        assert!(matches!(found[..], [(0, Err(Error::Io { .. }))]));
        assert_eq!(runs.vacant, [(0, 0)]);
    }

    #[test]
    fn a_run_is_forgotten_once_its_inputs_are_taken_and_its_processes_ended() {
        let mut runs = one_run(2);
        let mut found = Found::<u64>::new();
        let board = Rc::clone(runs.board(0).unwrap());
        answer_in_ring(&runs, 0, 10);
        runs.release_finished_runs();
        assert_eq!(runs.runs.len(), 1, "input 1 is not taken yet");
        answer_in_ring(&runs, 1, 11);
        runs.release_finished_runs();
        assert_eq!(runs.runs.len(), 1, "its process has not ended");
        let end = Error::NoResult { pid: 7, code: 0 };
        runs.server_failed(SERVER, end, true, &mut found);
        let kept = kept(&found);
        assert!(matches!(kept[&0], Ok(10)));
        assert!(matches!(kept[&1], Ok(11)));
        assert!(runs.vacant.is_empty(), "no input is left to serve");
        runs.release_finished_runs();
        assert!(runs.runs.is_empty());
        assert!(runs.servers.is_empty());
        assert_eq!(
            Rc::strong_count(&board),
            1,
            "nothing holds its board any more"
        );
    }

    #[test]
    fn a_run_whose_failed_process_awaits_a_successor_is_kept() {
        let mut runs = one_run(2);
        let mut found = Found::<u64>::new();
        assert_eq!(runs.board(0).unwrap().take(0), Some(0));
        runs.server_failed(SERVER, Error::Died { pid: 7, signal: 9 }, true, &mut found);
        assert_eq!(runs.vacant, [(0, 0)]);
        runs.release_finished_runs();
        assert_eq!(runs.runs.len(), 1, "input 1 still needs a process");
    }

    #[test]
    fn a_result_that_does_not_decode_fails_only_its_input() {
        let mut runs = one_run(3);
        let mut found = Found::<u64>::new();
        answer_in_ring(&runs, 0, 10);
        let board = Rc::clone(runs.board(0).unwrap());
        assert_eq!(board.take(0), Some(1));
        // Input 1's number, and no result after it.
        assert!(board.ring(0).push(&1u64.to_le_bytes()));
        answer_in_ring(&runs, 2, 12);
        assert_eq!(runs.take_rings(&mut found), [SERVER]);
        assert!(matches!(found[0], (0, Ok(10))));
        assert!(matches!(found[1], (1, Err(Error::Decode(_)))));
        assert!(matches!(found[2], (2, Ok(12))));
        assert!(runs.broken.is_empty(), "the process is not to blame");
    }

    #[test]
    fn answers_for_inputs_that_do_not_exist_fail_the_process() {
        let mut runs = one_run(2);
        let mut found = Found::<u64>::new();
        assert_eq!(runs.board(0).unwrap().take(0), Some(0));
        let mut answer = Vec::new();
        encode_answer(99, &1u64, &mut answer).unwrap();
        assert!(runs.board(0).unwrap().ring(0).push(&answer));
        assert!(runs.take_rings(&mut found).is_empty());
        assert!(matches!(found[0], (0, Err(Error::Decode(_)))));
        assert_eq!(runs.broken, [SERVER], "it is to be killed");
        assert!(runs.vacant.is_empty(), "no new process before it ended");
    }
}
