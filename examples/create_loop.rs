//! A test program for fork-style creation: [`pprocess::create`] returns in
//! both processes, each with its end of one channel.
//!
//! The creator sends the numbers 0 to 100 one by one; 100 is the stop
//! value. The created process prints each number below 100 as it receives
//! it; on receiving 100 it sends `"Done"` and ends with
//! [`pprocess::exit`]. The creator receives that and prints it.
//!
//! Output: 100 lines `0` to `99` (from the created process), then `Done`
//! (from the creator).
//!
//! ```text
//! cargo run --example create_loop
//! ```

use pprocess::Fork;
use pprocess_examples::print_until;

/// The stop value: the last number sent, and the first not printed.
const LIMIT: u32 = 100;

fn main() -> pprocess::Result<()> {
    match pprocess::create()? {
        Fork::Child(mut channel) => {
            if let Err(error) = print_until(&mut channel, LIMIT) {
                eprintln!("create_loop: created process: {error}");
            }
            // Never back into the creator's code, whatever happened.
            pprocess::exit(channel);
        }
        Fork::Parent(mut channel) => {
            for i in 0..=LIMIT {
                channel.send(&i)?;
            }
            println!("{}", channel.receive::<String>()?);
        }
    }
    Ok(())
}
