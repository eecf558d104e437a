#[pprocess::parallel]
struct Calculation {
    i: u32,
    j: u32,
}

fn main() {}
