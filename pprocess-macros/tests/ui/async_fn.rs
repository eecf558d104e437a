#[pprocess::parallel]
async fn calculate(i: u32, j: u32) -> u32 {
    i * 10 + j
}

fn main() {
    // The function and its helpers still exist: no cascade of errors here.
    let _future = calculate(1, 2);
    let _results: Vec<pprocess::Result<u32>> = calculate::pmap([(1, 2)]).collect();
}
