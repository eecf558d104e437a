// Reused processes receive their arguments over the channel: each must
// implement `Serialize` and `Deserialize`. The error points at its type.
#[derive(serde::Deserialize)]
struct Cell(u32);

#[pprocess::reusable]
fn value(cell: Cell, factor: u32) -> u32 {
    cell.0 * factor
}

fn main() {
    let _ = value::reusable();
}
