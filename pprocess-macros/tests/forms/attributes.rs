//! Attributes, doc comments and `const fn` stay on the function; `#[cfg]`
//! applies to the generated module too.

/// Doubles `n`.
///
/// Documented, inlined and `#[must_use]`: all kept.
#[inline]
#[must_use]
#[pprocess::parallel]
const fn double(n: u32) -> u32 {
    n * 2
}

/// The attribute may also come first.
#[pprocess::parallel]
#[inline(never)]
#[allow(clippy::all)]
fn triple(n: u32) -> u32 {
    n * 3
}

#[cfg(any())]
#[pprocess::parallel]
fn compiled_out(n: Missing) -> Missing {
    n
}

// An always-true `cfg`, as a user's may be.
#[allow(clippy::non_minimal_cfg)]
#[cfg(all())]
#[pprocess::parallel]
fn compiled_in(n: u32) -> u32 {
    n
}

const DOUBLED: u32 = double(21);

/// Uses every helper of this form and checks what it returns.
pub(super) fn run() {
    assert_eq!(DOUBLED, 42);
    let results: Vec<u32> = double::pmap([1, 2]).map(Result::unwrap).collect();
    assert_eq!(results, [2, 4]);
    let results: Vec<u32> = triple::pmap([1]).map(Result::unwrap).collect();
    assert_eq!(results, [3]);
    let results: Vec<u32> = compiled_in::pmap([5]).map(Result::unwrap).collect();
    assert_eq!(results, [5]);
}
