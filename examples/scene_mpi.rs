//! The parallel raytracer across the ranks of an MPI job: the rows are
//! rendered by the worker ranks (each in a reused created process), and
//! rank 0 shows the progress bar and writes the same `test.tif` as the
//! `scene` example, byte for byte. Run directly, without `mpirun`, it
//! renders on this machine's cores. Needs the `mpi` feature.
//!
//! ```text
//! cargo build --release --features mpi --example scene_mpi
//! mpirun -np 3 target/release/examples/scene_mpi        # rank 0 and two workers
//! target/release/examples/scene_mpi 2 --compare         # one machine
//! ```
//!
//! The process limit caps the worker ranks used (on one machine: the
//! processes).

use std::process::ExitCode;

use pprocess_examples::raytracer::{cli, frame_row};

fn main() -> ExitCode {
    let cluster = match pprocess::mpi::init() {
        Ok(cluster) => cluster,
        Err(error) => {
            eprintln!("scene_mpi: {error}");
            return ExitCode::FAILURE;
        }
    };
    cli::run("scene_mpi", move |frame, limit, canvas| {
        let cluster = cluster.limit(limit);
        let (width, height, samples) = (frame.width, frame.height, frame.samples);
        let rows = (0..height).map(|row| (width, height, samples, row));
        for (row, bytes) in frame_row::pmap_on(&cluster, rows).enumerate() {
            canvas.put(row, &bytes?);
        }
        Ok(())
    })
}
