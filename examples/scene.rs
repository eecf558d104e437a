//! The parallel raytracer, the original distribution's main example:
//! renders the PyGmy scene (a green big sphere behind a ring of small green
//! spheres on a patterned teal floor) one task per row, and writes
//! `test.tif`.
//!
//! Shows an [`Exchange`] with a handler that stores each row in the image
//! as it arrives, and a managed callable: `exchange.manage(render_row)`
//! makes each `call(row)` a task that renders the row in a created process
//! and sends its bytes back. The scene is never sent: a created process is
//! a copy of the creator and has the `Frame` already; only the row's bytes
//! (one `pprocess::Bytes` block) and, for reused processes, the row number
//! travel.
//!
//! The exchange reuses its processes: a row renders in well under a
//! millisecond, less than a `fork` costs on many machines, so each of the
//! `limit` processes renders many rows, receiving the next row number while
//! it works on the current one. The other variants farm out the same rows
//! differently: `scene_pmap` (`pmap_limit`) and `scene_queue` (a `Queue`)
//! fork a process per row, `scene_reuse` reuses processes through a `Map`.
//! All write the identical image.
//!
//! ```text
//! cargo run --release --example scene                  # as many processes as cores
//! cargo run --release --example scene -- 2 --compare   # at most 2, and the speedup
//! cargo run --release --example scene -- --help        # --width, --height, --samples, --output
//! ```

use std::process::ExitCode;

use pprocess::{Channel, Exchange, MakeReusable};
use pprocess_examples::raytracer::{Canvas, Frame, Row, cli};

/// Renders the rows with an exchange of at most `limit` processes.
fn farm(frame: &Frame, limit: usize, canvas: &mut Canvas) -> pprocess::Result<()> {
    // Tasks are numbered in the order they are called: task `row` renders
    // row `row`, so the handler knows where the bytes go.
    let mut exchange = Exchange::with_handler(|channel: &mut Channel, row: usize| {
        let bytes: Row = channel.receive()?;
        canvas.put(row, &bytes);
        Ok(())
    })
    .limit(limit)
    .reuse(true);
    let mut render_row = exchange.manage(MakeReusable::new(|row: usize| frame.render_row(row)));
    for row in 0..frame.height {
        let task = render_row.call(row);
        debug_assert_eq!(task, row);
    }
    exchange.finish()
}

fn main() -> ExitCode {
    cli::run("scene", farm)
}
