// An associated function (no `self`, no `Self`) looks like a free one to
// the attribute, but the module it generates cannot go in an `impl` or a
// `trait`: one error at the function's name says what to do instead.
struct Grid;

impl Grid {
    #[pprocess::parallel]
    fn cell(i: u32, j: u32) -> u32 {
        i * 10 + j
    }
}

trait Shape {
    #[pprocess::reusable]
    fn area(width: u32) -> u32 {
        width * width
    }

    fn side(area: u32) -> u32;
}

impl Shape for Grid {
    #[pprocess::parallel]
    fn side(area: u32) -> u32 {
        area.isqrt()
    }
}

fn main() {}
