//! The `#[parallel]` and `#[reusable]` attributes of
//! [pprocess](https://docs.rs/pprocess). Use them through `pprocess`.
