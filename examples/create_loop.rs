//! A test program for fork-style creation: [`pprocess::create`] returns in
//! both processes. The created process sends the numbers 0 to 99 one by one,
//! printing each as it sends it, and ends with [`pprocess::exit`]. The
//! creator receives them all, checks that they arrived in order, waits for
//! the created process and prints `Done`.
//!
//! Output: 100 lines `0` to `99` (from the created process), then `Done`.
//!
//! ```text
//! cargo run --example create_loop
//! ```

use pprocess::Fork;

/// How many numbers the created process sends.
const COUNT: u32 = 100;

fn main() -> pprocess::Result<()> {
    match pprocess::create()? {
        Fork::Child(mut channel) => {
            for number in 0..COUNT {
                println!("{number}");
                channel.send(&number)?;
            }
            pprocess::exit(channel);
        }
        Fork::Parent(mut channel) => {
            for expected in 0..COUNT {
                let number: u32 = channel.receive()?;
                assert_eq!(number, expected, "numbers arrived out of order");
            }
            assert!(channel.wait()?.success(), "the created process failed");
            println!("Done");
        }
    }
    Ok(())
}
