// The result is sent by the created process and received by the creator:
// it must implement `Serialize` (and `Deserialize`). The error points at
// the return type, once, not at the generated code.
#[derive(serde::Deserialize)]
struct Cell(u32);

#[pprocess::parallel]
fn calculate(i: u32, j: u32) -> Cell {
    Cell(i * 10 + j)
}

#[pprocess::parallel]
fn row(i: u32) -> Vec<Cell> {
    (0..10).map(|j| Cell(i * 10 + j)).collect()
}

fn main() {
    // Uses of the helpers add no errors.
    let _ = calculate::pmap([(1, 2)]);
    let _ = row::parallel();
}
