// A result is sent to the creator: it must be owned. One error at the
// borrowed type, naming the owned one, and none where the map is used.
#[pprocess::parallel]
fn first_word(text: &str) -> &str {
    text.split(' ').next().unwrap_or("")
}

#[pprocess::parallel]
fn tail(numbers: &[u32]) -> Option<&[u32]> {
    numbers.get(1..)
}

fn main() -> pprocess::Result<()> {
    let words: Vec<&str> = first_word::pmap(["one two", "three four"])
        .collect::<pprocess::Result<_>>()?;
    assert_eq!(words, ["one", "three"]);
    let _ = tail::parallel();
    Ok(())
}
