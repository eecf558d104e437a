//! `simple_pmap` across the ranks of an MPI job: the 10x10 grid through
//! `cell::pmap_on`, the cluster entry point `#[pprocess::parallel]`
//! generates with the `mpi` feature. Rank 0 prints the grid and the time
//! taken; the other ranks compute cells. Run directly, without `mpirun`,
//! it computes them on this machine. Needs the `mpi` feature.
//!
//! ```text
//! cargo build --features mpi --example simple_pmap_mpi
//! mpirun -np 3 target/debug/examples/simple_pmap_mpi
//! PPROCESS_DELAY=0.1 target/debug/examples/simple_pmap_mpi    # one machine
//! ```

use pprocess_examples::{calculate, cells, print_grid, print_time_taken};

/// The value of cell `(i, j)`, computed on a worker rank.
#[pprocess::parallel]
fn cell(i: usize, j: usize) -> usize {
    calculate(i, j)
}

fn main() -> pprocess::Result<()> {
    let cluster = pprocess::mpi::init()?; // the worker ranks stay in here
    let start = std::time::Instant::now();
    let grid: Vec<usize> = cell::pmap_on(&cluster, cells()).collect::<pprocess::Result<_>>()?;
    print_grid(&grid);
    print_time_taken(start);
    Ok(())
}
