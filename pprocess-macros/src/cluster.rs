//! The registration of a function for the ranks of an MPI job: a call to
//! `::pprocess::__private::register!`, which the runtime expands to the
//! function's entry in its registry and its `pmap_on` and `pqueue_on`
//! entry points when it is built with its `mpi` feature, and to nothing
//! otherwise.
//!
//! Only functions that can cross ranks are registered: those without
//! generic parameters (one entry per function, found by its name) whose
//! argument types borrow nothing (arguments are decoded on the rank that
//! runs the task).

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;
use syn::visit::{self, Visit};
use syn::{Lifetime, Type, TypeReference};

use crate::ast::Function;

/// The registration of `function` (taking `args`, returning `output`),
/// made from its module's `parallel()` wrapper, with its module's items
/// visible as `vis`; `None` if it cannot cross ranks. The function itself
/// is not named again: an error about it (a function the module cannot
/// see) is reported once, by the wrappers.
pub fn registration(
    function: &Function<'_>,
    vis: &TokenStream,
    args: &Type,
    output: &Type,
) -> Option<TokenStream> {
    if !function.item.sig.generics.params.is_empty() || borrows(args) {
        return None;
    }
    // Not the user's token: rustc would add a note to every error at its
    // span (there is one when the module cannot see the function).
    let ident = Ident::new(&function.ident().to_string(), Span::call_site());
    Some(quote! {
            ::pprocess::__private::register! {
                #vis fn #ident(#args) -> #output
            }
    })
}

/// Whether `ty` holds a reference or names a lifetime.
fn borrows(ty: &Type) -> bool {
    struct Borrows(bool);
    impl<'ast> Visit<'ast> for Borrows {
        fn visit_type_reference(&mut self, _: &'ast TypeReference) {
            self.0 = true;
        }
        fn visit_lifetime(&mut self, _: &'ast Lifetime) {
            self.0 = true;
        }
        fn visit_type(&mut self, ty: &'ast Type) {
            if matches!(ty, Type::ImplTrait(_) | Type::Infer(_)) {
                self.0 = true;
            }
            visit::visit_type(self, ty);
        }
    }
    let mut visitor = Borrows(false);
    visitor.visit_type(ty);
    visitor.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    #[test]
    fn owned_types_cross_ranks_and_borrowed_ones_do_not() {
        assert!(!borrows(&parse_quote!((u32, String, Vec<u8>))));
        assert!(borrows(&parse_quote!(&str)));
        assert!(borrows(&parse_quote!((u32, Cow<'static, str>))));
        assert!(borrows(&parse_quote!(Vec<&[u8]>)));
    }
}
