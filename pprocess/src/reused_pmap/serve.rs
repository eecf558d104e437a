//! What a serving process of a `pmap` with reuse does, in the created
//! process: take the next input from the board, call the function, leave
//! the answer in its ring.

use std::cell::RefCell;
use std::process::ExitCode;

use serde::Serialize;

use crate::channel::Channel;
use crate::error::Result;
use crate::reused_pmap::board::Board;
use crate::wire::codec;

/// The loop of a serving process at `place` on `board`: takes the next
/// input nobody has taken out of its copy of `inputs`, calls `function`
/// on it, and leaves the answer in its ring (on `channel` if it does not
/// fit), until no input is left, or until it has run `budget` inputs: it
/// then ends like one that found none, and its creator replaces it.
pub(crate) fn serve_inputs<A, T: Serialize>(
    channel: &mut Channel,
    board: &Board,
    place: usize,
    inputs: &RefCell<Vec<Option<A>>>,
    function: &dyn Fn(A) -> T,
    budget: Option<usize>,
) -> ExitCode {
    let ring = board.ring(place);
    let mut answer = Vec::new();
    for _ in 0..budget.unwrap_or(usize::MAX) {
        let Some(input) = board.take(place) else {
            break;
        };
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
pub(crate) fn encode_answer<T: Serialize>(
    input: usize,
    result: &T,
    answer: &mut Vec<u8>,
) -> Result<()> {
    answer.clear();
    answer.extend_from_slice(&(input as u64).to_le_bytes());
    codec::encode_into(result, answer)
}
