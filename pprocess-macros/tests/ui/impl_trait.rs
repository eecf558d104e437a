#[pprocess::parallel]
fn describe(value: impl std::fmt::Display) -> String {
    value.to_string()
}

#[pprocess::parallel]
fn numbers(n: u32) -> impl Iterator<Item = u32> {
    0..n
}

fn main() {}
