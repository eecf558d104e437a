//! A test program for thread-style creation: [`pprocess::start`] runs a
//! closure in a new process. The closure sends the numbers 0 to 99 one by
//! one, printing each as it sends it. The creator receives them all, checks
//! that they arrived in order, waits for the created process and prints
//! `Done`.
//!
//! Output: 100 lines `0` to `99` (from the created process), then `Done`.
//!
//! ```text
//! cargo run --example start_loop
//! ```

/// How many numbers the created process sends.
const COUNT: u32 = 100;

fn main() -> pprocess::Result<()> {
    let mut channel = pprocess::start(|channel| {
        (0..COUNT).try_for_each(|number| {
            println!("{number}");
            channel.send(&number)
        })
    })?;
    for expected in 0..COUNT {
        let number: u32 = channel.receive()?;
        assert_eq!(number, expected, "numbers arrived out of order");
    }
    assert!(channel.wait()?.success(), "the created process failed");
    println!("Done");
    Ok(())
}
