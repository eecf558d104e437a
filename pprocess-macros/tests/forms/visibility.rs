//! The generated module has the function's visibility, and its functions
//! reach as far as the function does.

#![deny(missing_docs)]
//! Checks that the generated items are documented.

mod outer {
    pub(crate) mod inner {
        /// A private function: its helpers are usable in `inner`.
        #[pprocess::parallel]
        fn private(n: u8) -> u8 {
            n
        }

        /// Uses the private function's helpers from its own module.
        pub(crate) fn use_private() -> Vec<u8> {
            private::pmap([1, 2]).map(Result::unwrap).collect()
        }

        /// Visible in `outer`.
        #[pprocess::parallel]
        pub(super) fn to_parent(n: u8) -> u8 {
            n + 1
        }

        /// Visible in the crate.
        #[pprocess::parallel]
        pub(crate) fn to_crate(n: u8) -> u8 {
            n + 2
        }

        /// Visible in `outer`, written as a path.
        #[pprocess::parallel]
        pub(in crate::visibility::outer) fn to_path(n: u8) -> u8 {
            n + 3
        }

        /// Visible everywhere.
        #[pprocess::reusable]
        pub fn public(n: u8) -> u8 {
            n + 4
        }
    }

    pub(crate) fn use_parent() -> Vec<u8> {
        let mut results: Vec<u8> = inner::to_parent::pmap([0]).map(Result::unwrap).collect();
        results.extend(inner::to_path::pmap([0]).map(Result::unwrap));
        results
    }
}

/// Public, and so documented.
#[pprocess::parallel]
pub fn exported(n: u8) -> u8 {
    n
}

/// Uses every helper of this form and checks what it returns.
pub(super) fn run() {
    assert_eq!(outer::inner::use_private(), [1, 2]);
    assert_eq!(outer::use_parent(), [1, 3]);
    let results: Vec<u8> = outer::inner::to_crate::pmap([0])
        .map(Result::unwrap)
        .collect();
    assert_eq!(results, [2]);
    let results: Vec<u8> = outer::inner::public::pmap([0])
        .map(Result::unwrap)
        .collect();
    assert_eq!(results, [4]);
    let _ = (outer::inner::public::reusable(), exported::parallel());
}
