//! Every supported form of `#[parallel]` and `#[reusable]` compiles, and
//! its generated helpers run and give the right results: one module per
//! form (`tests/forms/`), each with a `run` that asserts. They are plain
//! tests, built with the rest, so that the compile-fail cases
//! (`tests/ui.rs`) are only checked, never built.

// The forms are what users may write, not what clippy would have them write:
// bounds in two places, `ref` on a parameter, a lifetime that could be
// elided, a borrowed `Vec`.
#![allow(
    clippy::useless_vec,
    clippy::multiple_bound_locations,
    clippy::toplevel_ref_arg,
    clippy::needless_lifetimes
)]

#[path = "forms/arguments.rs"]
mod arguments;

#[test]
fn arguments() {
    arguments::run();
}

#[path = "forms/attributes.rs"]
mod attributes;

#[test]
fn attributes() {
    attributes::run();
}

#[path = "forms/basic.rs"]
mod basic;

#[test]
fn basic() {
    basic::run();
}

#[path = "forms/borrowed.rs"]
mod borrowed;

#[test]
fn borrowed() {
    borrowed::run();
}

#[path = "forms/generics.rs"]
mod generics;

#[test]
fn generics() {
    generics::run();
}

#[path = "forms/paths.rs"]
mod paths;

#[test]
fn paths() {
    paths::run();
}

#[path = "forms/places.rs"]
mod places;

#[test]
fn places() {
    places::run();
}

#[path = "forms/visibility.rs"]
mod visibility;

#[test]
fn visibility() {
    visibility::run();
}
