// A map or queue that is never consumed does none of its work: dropping it
// kills its processes. Each way of making one without using it is a
// warning, an error here.
#![deny(unused_must_use)]

#[pprocess::parallel]
fn square(n: u64) -> u64 {
    n * n
}

fn main() {
    pprocess::pmap(|n: u64| n * n, 0..4);
    pprocess::pmap_limit(|n: u64| n * n, 0..4, 2);
    pprocess::Map::<u64>::new();
    pprocess::Queue::<u64>::new();
    square::pmap(0..4);
    square::pmap_limit(0..4, 2);
    square::pmap_reused(0..4);
    square::pmap_reused_limit(0..4, 2);
}
