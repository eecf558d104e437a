//! The compile-time behaviour of `#[parallel]` and `#[reusable]`: every
//! misuse is an error at the offending token with the message checked in
//! beside it (`tests/ui/*.stderr`). The supported forms are
//! `tests/forms.rs`: with no passing case here, trybuild only checks, and
//! builds no code for the runtime and its dependencies.
//!
//! After changing a message, regenerate the expected output with
//! `TRYBUILD=overwrite cargo test -p pprocess-macros --test ui` and read the
//! diff. They live in this package, whose few dependencies are all trybuild
//! builds for them.

#[test]
fn attributes_reject_each_misuse_with_a_message_at_the_offending_token() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
