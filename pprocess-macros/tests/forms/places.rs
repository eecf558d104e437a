//! The attributes go on functions at module level, in any module however
//! it is reached (nested, declared in a function's body, a file reached
//! through `#[path]`), and on functions written by `macro_rules!`. A
//! function of the same name and signature in a function's body does not
//! make the attribute take the module-level one for misplaced.

#[path = "places/elsewhere.rs"]
mod elsewhere;

mod a {
    pub(crate) mod b {
        #[pprocess::parallel]
        pub(crate) fn nested(n: u64) -> u64 {
            n + 1
        }
    }
}

macro_rules! square {
    ($name:ident) => {
        #[pprocess::parallel]
        fn $name(n: u64) -> u64 {
            n * n
        }
    };
}

square!(made);

// The `fn` and the name on one line, as the attribute sees them.
#[rustfmt::skip]
macro_rules! cube {
    ($name:ident) => { #[pprocess::reusable] fn $name(n: u64) -> u64 { n * n * n } };
}

cube!(made_on_one_line);

#[pprocess::parallel]
fn twice(n: u64) -> u64 {
    n * 2
}

/// Runs the functions of every place and checks their results.
pub(super) fn run() {
    mod inner {
        #[pprocess::parallel]
        pub(crate) fn in_body(n: u64) -> u64 {
            n + 100
        }
    }

    fn helper() -> u64 {
        // Not the attribute's function: same name and signature, no attribute.
        fn twice(n: u64) -> u64 {
            n
        }
        twice(7)
    }

    let collect = |map: pprocess::Map<'_, u64>| map.collect::<pprocess::Result<Vec<u64>>>();
    assert_eq!(collect(a::b::nested::pmap([1, 2])).unwrap(), [2, 3]);
    assert_eq!(collect(elsewhere::elsewhere::pmap([1])).unwrap(), [10]);
    assert_eq!(collect(made::pmap([3])).unwrap(), [9]);
    assert_eq!(collect(made_on_one_line::pmap_reused([2])).unwrap(), [8]);
    assert_eq!(collect(twice::pmap([4])).unwrap(), [8]);
    assert_eq!(collect(inner::in_body::pmap([1])).unwrap(), [101]);
    assert_eq!(helper(), 7);
}
