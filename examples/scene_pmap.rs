//! The parallel raytracer with [`pprocess::pmap_limit`]: a parallel `map`
//! of `render_row` over the row indices, at most `limit` processes at once.
//! The results come back in row order, each as soon as it and all rows
//! above it have arrived. Writes the same `test.tif` as the `scene`
//! example (see there for the picture).
//!
//! ```text
//! cargo run --release --example scene_pmap
//! cargo run --release --example scene_pmap -- 2 --compare --output pmap.tif
//! ```

use std::process::ExitCode;

use pprocess_examples::raytracer::{Canvas, Frame, cli};

/// Renders the rows with `pmap_limit`.
fn farm(frame: &Frame, limit: usize, canvas: &mut Canvas) -> pprocess::Result<()> {
    let rows = pprocess::pmap_limit(|row| frame.render_row(row), 0..frame.height, limit);
    for (row, bytes) in rows.enumerate() {
        canvas.put(row, &bytes?);
    }
    Ok(())
}

fn main() -> ExitCode {
    cli::run("scene_pmap", farm)
}
