trait Calculate {
    #[pprocess::parallel]
    fn calculate(i: u32, j: u32) -> u32;
}

fn main() {}
