#[pprocess::parallel(limit = 4)]
fn calculate(i: u32, j: u32) -> u32 {
    i * 10 + j
}

#[pprocess::reusable(foo)]
fn square(n: u64) -> u64 {
    n * n
}

fn main() {
    let _ = calculate::pmap([(1, 2)]);
    let _ = square::reusable();
}
