use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Grid {
    width: u32,
}

impl Grid {
    #[pprocess::parallel]
    fn new(width: u32) -> Self {
        Grid { width }
    }
}

fn main() {}
