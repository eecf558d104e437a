//! A test program for thread-style creation: [`pprocess::start`] runs a
//! function, with an argument, in a new process.
//!
//! `looping(channel, 100)` runs in the created process: it prints
//! `loop to 100`, then prints each number it receives while it is below the
//! limit, and sends `"Done"` once it receives the limit. The creator sends
//! the numbers 0 to 100, receives `Done` and prints it.
//!
//! Output: `loop to 100`, 100 lines `0` to `99` (from the created process),
//! then `Done` (from the creator).
//!
//! ```text
//! cargo run --example start_loop
//! ```

use pprocess::Channel;
use pprocess_examples::print_until;

/// The stop value: the last number sent, and the first not printed.
const LIMIT: u32 = 100;

/// The created process's work: announces its limit, then prints the
/// numbers it receives until `limit` and answers `"Done"`.
fn looping(channel: &mut Channel, limit: u32) -> pprocess::Result<()> {
    println!("loop to {limit}");
    print_until(channel, limit)
}

fn main() -> pprocess::Result<()> {
    let mut channel = pprocess::start(|channel| looping(channel, LIMIT))?;
    for i in 0..=LIMIT {
        channel.send(&i)?;
    }
    println!("{}", channel.receive::<String>()?);
    Ok(())
}
