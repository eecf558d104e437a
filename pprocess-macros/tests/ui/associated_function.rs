// An associated function (no `self`, no `Self`) cannot be told apart from a
// free one, but the generated module cannot live in an `impl` block: rustc
// says so, once, at the attribute.
struct Grid;

impl Grid {
    #[pprocess::parallel]
    fn cell(i: u32, j: u32) -> u32 {
        i * 10 + j
    }
}

fn main() {}
