//! A module in a file of its own, reached through `#[path]`.

#[pprocess::parallel]
pub(crate) fn elsewhere(n: u64) -> u64 {
    n * 10
}
