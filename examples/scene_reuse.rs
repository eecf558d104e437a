//! The parallel raytracer with reused processes: a [`Map`] with
//! `reuse(true)` and a [`MakeReusable`] callable. At most `limit`
//! processes are created; each renders row after row, receiving the next
//! row index from the creator when it has sent the previous row, instead of
//! a new process being forked per row. Writes the same `test.tif` as the
//! `scene` example (see there for the picture).
//!
//! ```text
//! cargo run --release --example scene_reuse
//! cargo run --release --example scene_reuse -- 2 --compare --output reuse.tif
//! ```

use std::process::ExitCode;

use pprocess::{MakeReusable, Map};
use pprocess_examples::raytracer::{Canvas, Frame, Row, cli};

/// Renders the rows with a map reusing at most `limit` processes.
fn farm(frame: &Frame, limit: usize, canvas: &mut Canvas) -> pprocess::Result<()> {
    let mut map: Map<Row> = Map::new().limit(limit).reuse(true);
    let mut render_row = map.manage(MakeReusable::new(|row: usize| frame.render_row(row)));
    for row in 0..frame.height {
        render_row.call(row);
    }
    for (row, bytes) in map.enumerate() {
        canvas.put(row, &bytes?);
    }
    Ok(())
}

fn main() -> ExitCode {
    cli::run("scene_reuse", farm)
}
