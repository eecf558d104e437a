//! The attribute's own arguments, as in `#[parallel(...)]`. None are
//! accepted yet: anything given is an error pointing at it.

use proc_macro2::TokenStream;
use syn::Error;

use crate::ast::{Kind, source};

/// The parsed arguments of the attribute (none exist yet).
pub struct Args;

/// Parses the tokens between the attribute's parentheses.
pub fn parse(kind: Kind, args: TokenStream) -> Result<Args, Error> {
    if args.is_empty() {
        return Ok(Args);
    }
    Err(Error::new_spanned(
        &args,
        format!(
            "unknown argument `{}`: {} takes no arguments; write it alone, as \
             `{}` (to cap the number of processes, call the generated \
             `pmap_limit(inputs, limit)`)",
            source(&args),
            kind.attribute(),
            kind.attribute(),
        ),
    ))
}
