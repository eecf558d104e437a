//! The compile-time behaviour of `#[parallel]` and `#[reusable]`: every
//! supported form compiles and runs (`tests/ui/pass/`), every misuse is an
//! error at the offending token with the message checked in beside it
//! (`tests/ui/*.stderr`).
//!
//! After changing a message, regenerate the expected output with
//! `TRYBUILD=overwrite cargo test -p pprocess-macros --test ui` and read the
//! diff. They live in this package, whose few dependencies are all trybuild
//! builds for them.

#[test]
fn attributes_accept_every_supported_form_and_reject_each_misuse() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/*.rs");
}
