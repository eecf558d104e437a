//! `#[parallel]` arguments are not serialized (the created process is a
//! fork that has them), so they may borrow.

use pprocess::Callable;

#[pprocess::parallel]
fn count(text: &str, letter: char) -> usize {
    text.chars().filter(|c| *c == letter).count()
}

#[pprocess::parallel]
fn total(values: &[u32]) -> u32 {
    values.iter().sum()
}

/// Uses every helper of this form and checks what it returns.
pub(super) fn run() {
    let text = String::from("a banana and an apple");
    let counts: Vec<usize> = count::pmap([(&text[..], 'a'), (&text[..], 'n')])
        .map(Result::unwrap)
        .collect();
    assert_eq!(counts, [7, 4]);

    let values = vec![1, 2, 3, 4];
    let totals: Vec<u32> = total::pmap_limit(values.chunks(2), 2)
        .map(Result::unwrap)
        .collect();
    assert_eq!(totals, [3, 7]);

    let mut channel = pprocess::start(total::parallel().bind(&values[..])).unwrap();
    assert_eq!(channel.receive::<u32>().unwrap(), 10);
}
