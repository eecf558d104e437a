//! A test program for two-way messages: the creator sends 20 to a created
//! process, then the two count down together. Each side receives a number
//! `n`, prints it, and sends `n - 1` back, until 0 is reached; then both
//! stop, and the creator waits for the created process and prints `Done`.
//!
//! Output: one line per number, `child: N` from the created process and
//! `parent: N` from the creator, alternating, then `Done`:
//!
//! ```text
//! child: 20
//! parent: 19
//! child: 18
//! ...
//! parent: 1
//! child: 0
//! Done
//! ```
//!
//! Run it with `cargo run --example two_way`.

use pprocess::Channel;

/// The number the count starts from.
const START: u32 = 20;

/// One side of the count: receives `n`, prints it as `who: n`, and sends
/// `n - 1` back, until 0 has been received or sent.
fn count_down(channel: &mut Channel, who: &str) -> pprocess::Result<()> {
    loop {
        let n: u32 = channel.receive()?;
        println!("{who}: {n}");
        if n == 0 {
            return Ok(());
        }
        channel.send(&(n - 1))?;
        if n == 1 {
            return Ok(());
        }
    }
}

fn main() -> pprocess::Result<()> {
    let mut channel = pprocess::start(|channel| count_down(channel, "child"))?;
    channel.send(&START)?;
    count_down(&mut channel, "parent")?;
    assert!(channel.wait()?.success(), "the created process failed");
    println!("Done");
    Ok(())
}
