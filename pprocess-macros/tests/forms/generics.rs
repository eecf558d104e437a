//! Generic parameters, `where` clauses, const generics and lifetimes: the
//! wrappers and helpers take the function's parameters.

use serde::Serialize;
use serde::de::DeserializeOwned;

#[pprocess::parallel]
fn twice<T>(value: T) -> (T, T)
where
    T: Clone + Serialize + DeserializeOwned,
{
    (value.clone(), value)
}

#[pprocess::parallel]
fn sum<const N: usize>(values: [u32; N]) -> u32 {
    values.iter().sum()
}

#[pprocess::parallel]
fn longest<'a>(a: &'a str, b: &'a str) -> usize {
    a.len().max(b.len())
}

/// Type parameters named like the helpers' own (`I`, `'env`).
#[pprocess::parallel]
fn named<'env, I: Into<u64> + Copy>(value: I, text: &'env str) -> u64 {
    value.into() + text.len() as u64
}

#[pprocess::reusable]
fn label<T: Serialize + DeserializeOwned + std::fmt::Display>(value: T) -> String {
    format!("<{value}>")
}

/// Uses every helper of this form and checks what it returns.
pub(super) fn run() {
    let pairs: Vec<(String, String)> = twice::pmap(["a".to_owned(), "b".to_owned()])
        .collect::<pprocess::Result<_>>()
        .unwrap();
    assert_eq!(pairs[1], ("b".to_owned(), "b".to_owned()));

    let sums: Vec<u32> = sum::pmap([[1, 2, 3], [4, 5, 6]])
        .collect::<pprocess::Result<_>>()
        .unwrap();
    assert_eq!(sums, [6, 15]);

    let words = String::from("borrowed words");
    let lengths: Vec<usize> = longest::pmap([(&words[..8], &words[9..]), ("x", "yz")])
        .collect::<pprocess::Result<_>>()
        .unwrap();
    assert_eq!(lengths, [8, 2]);

    let values: Vec<u64> = named::pmap([(1u8, "abc")])
        .collect::<pprocess::Result<_>>()
        .unwrap();
    assert_eq!(values, [4]);

    let mut map = pprocess::Map::new().limit(1).reuse(true);
    let mut call = map.manage(label::reusable());
    call.call(7u16);
    call.call(8u16);
    assert_eq!(
        map.collect::<pprocess::Result<Vec<String>>>().unwrap(),
        ["<7>", "<8>"]
    );
}
