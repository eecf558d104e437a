//! The parallel raytracer with a [`Queue`]: each task sends
//! `(row_index, bytes)`, and the rows are stored in the order they arrive,
//! which is not the row order. Writes the same `test.tif` as the `scene`
//! example (see there for the picture).
//!
//! ```text
//! cargo run --release --example scene_queue
//! cargo run --release --example scene_queue -- 2 --compare --output queue.tif
//! ```

use std::process::ExitCode;

use pprocess::Queue;
use pprocess_examples::raytracer::{Canvas, Frame, Row, cli};

/// Renders the rows with a queue of at most `limit` processes.
fn farm(frame: &Frame, limit: usize, canvas: &mut Canvas) -> pprocess::Result<()> {
    let mut queue: Queue<(usize, Row)> = Queue::new().limit(limit);
    for row in 0..frame.height {
        queue.start(move |channel| channel.send(&(row, frame.render_row(row))));
    }
    for result in queue {
        let (row, bytes) = result?;
        canvas.put(row, &bytes);
    }
    Ok(())
}

fn main() -> ExitCode {
    cli::run("scene_queue", farm)
}
