struct Grid {
    width: u32,
}

impl Grid {
    #[pprocess::parallel]
    fn cell(&self, i: u32, j: u32) -> u32 {
        i * self.width + j
    }
}

fn main() {}
