//! What is emitted when the checks fail: the compile errors, the user's
//! item unchanged (so that the function still exists for the rest of the
//! crate and for IDEs), and, when its signature allows, the module with
//! stub bodies, so that uses of `calculate::pmap` and the like do not add
//! a cascade of "cannot find" errors to the one that matters.

use proc_macro2::TokenStream;
use quote::quote;
use syn::Error;

use crate::ast::{Function, Kind};
use crate::expand::{self, Bodies};
use crate::valid;

/// The item as written, the stub module if possible, and `error`.
pub fn expand(
    original: TokenStream,
    function: Option<&Function<'_>>,
    kind: Kind,
    error: Error,
) -> TokenStream {
    let stub = function
        .filter(|function| valid::nameable(function))
        .map(|function| {
            let unsendable = valid::result_errors(function, kind).is_some();
            let module = expand::module(function, kind, Bodies::Stub { unsendable });
            quote!(#[allow(unused_variables, clippy::all)] #module)
        });
    let error = error.into_compile_error();
    quote! {
        #original
        #stub
        #error
    }
}
