// Every error of one function is reported at once, each at its token.
#[pprocess::reusable(fast)]
async unsafe fn calculate(i: &u32, j: u32) -> u32 {
    *i * 10 + j
}

fn main() {}
