//! A test program for two-way messages through a continuous [`Exchange`]
//! with a [`Handler`]: one created process, many messages each way, and the
//! creator answering each from its handler.
//!
//! The created process is started with 20. While its number is not 0 it
//! prints `Child: N`, sends it, prints `Child sent`, and receives the next.
//! The creator added its channel to an exchange made with
//! `continuous(true)` (one process, many messages) and calls
//! [`finish`](Exchange::finish); the handler receives each number `N`,
//! prints `Parent: N`, sends `N - 1` back and prints `Parent sent`. When the
//! created process receives 0 it ends, and `finish` returns.
//!
//! Output: 80 lines, `Child: N`, `Child sent`, `Parent: N` and
//! `Parent sent` for each `N` from 20 down to 1. The two processes print at
//! the same time, so the lines of one side may come before or after those
//! of the other:
//!
//! ```text
//! Child: 20
//! Child sent
//! Parent: 20
//! Parent sent
//! Child: 19
//! ...
//! Parent: 1
//! Parent sent
//! ```
//!
//! Run it with `cargo run --example two_way`.

use pprocess::{Channel, Exchange, Handler};

/// The number the created process starts with.
const START: u32 = 20;

/// The creator's side: answers each number with the one below it.
struct CountDown;

impl Handler for CountDown {
    fn store_data(&mut self, channel: &mut Channel, _task: usize) -> pprocess::Result<()> {
        let n: u32 = channel.receive()?;
        println!("Parent: {n}");
        channel.send(&(n - 1))?;
        println!("Parent sent");
        Ok(())
    }
}

/// The created process's side: sends its number and receives the next,
/// until it is 0.
fn child(channel: &mut Channel, mut n: u32) -> pprocess::Result<()> {
    while n != 0 {
        println!("Child: {n}");
        channel.send(&n)?;
        println!("Child sent");
        n = channel.receive()?;
    }
    Ok(())
}

fn main() -> pprocess::Result<()> {
    let mut exchange = Exchange::with_handler(CountDown).continuous(true);
    exchange.add(pprocess::start(|channel| child(channel, START))?);
    exchange.finish()
}
