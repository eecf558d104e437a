// `std::io::Error` has none of serde's traits: a function returning
// `std::io::Result<T>` gets one error at the result's type, saying what to
// send instead, and uses of its helpers add none.
use std::io;

#[pprocess::parallel]
fn size(path: String) -> io::Result<u64> {
    Ok(std::fs::metadata(path)?.len())
}

#[pprocess::parallel]
fn read(path: String) -> Result<String, std::io::Error> {
    std::fs::read_to_string(path)
}

fn main() -> pprocess::Result<()> {
    let sizes: Vec<io::Result<u64>> = size::pmap(["Cargo.toml".to_owned()])
        .collect::<pprocess::Result<_>>()?;
    assert_eq!(sizes.len(), 1);
    for text in read::pmap_reused(["Cargo.toml".to_owned()]) {
        assert!(text?.is_ok());
    }
    Ok(())
}
