use std::borrow::Cow;

#[pprocess::reusable]
fn shout<'a>(text: Cow<'a, str>, suffix: Cow<'_, str>, fixed: Cow<'static, str>) -> String {
    format!("{text}{suffix}{fixed}!")
}

fn main() {}
