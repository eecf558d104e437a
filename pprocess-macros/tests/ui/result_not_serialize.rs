// The result is sent by the created process and received by the creator:
// it must implement `Serialize` and `Deserialize`. One error per function,
// even for a type with neither trait, at the return type, not at the
// generated code; using the helpers' maps (`collect`, a `for` loop) adds
// no error.
#[derive(serde::Deserialize)]
struct Cell(u32);

// Neither trait.
struct Plain(u32);

#[pprocess::parallel]
fn calculate(i: u32, j: u32) -> Cell {
    Cell(i * 10 + j)
}

#[pprocess::parallel]
fn row(i: u32) -> Vec<Cell> {
    (0..10).map(|j| Cell(i * 10 + j)).collect()
}

#[pprocess::parallel]
fn plain(i: u32) -> Plain {
    Plain(i)
}

fn main() {
    // Uses of the helpers add no errors.
    let _ = calculate::pmap([(1, 2)]);
    let _ = row::parallel();
    let _: Vec<_> = plain::pmap([1, 2]).collect();
    for _ in plain::pmap_reused(0..2) {}
}
