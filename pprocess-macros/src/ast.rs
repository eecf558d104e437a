//! The typed model of the function an attribute is on: what the other
//! stages read, taken from syn's tree without judging it (that is
//! `valid.rs`'s job).

use proc_macro2::Span;
use syn::{Attribute, FnArg, Ident, Item, ItemFn, Pat, Receiver, ReturnType, Type};

/// Which attribute is being expanded.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `#[parallel]`: a `MakeParallel` wrapper and pmap helpers.
    Parallel,
    /// `#[reusable]`: the same, plus a `MakeReusable` wrapper.
    Reusable,
}

impl Kind {
    /// The attribute as the user writes it, for messages.
    pub fn attribute(self) -> &'static str {
        match self {
            Kind::Parallel => "#[parallel]",
            Kind::Reusable => "#[reusable]",
        }
    }
}

/// A free function with a body, as the attribute sees it.
pub struct Function<'a> {
    /// The function as written; re-emitted unchanged.
    pub item: &'a ItemFn,
    /// Its `#[cfg(...)]` attributes, which the generated module shares.
    pub cfgs: Vec<&'a Attribute>,
    /// A `self` receiver, which is an error.
    pub receiver: Option<&'a Receiver>,
    /// The arguments after the receiver, in order.
    pub args: Vec<Arg<'a>>,
    /// The declared return type; `None` for `()`.
    pub output: Option<&'a Type>,
}

/// One argument of the function.
pub struct Arg<'a> {
    /// The name the generated closure binds it to: the argument's own name
    /// when its pattern is a plain identifier, a generated one otherwise
    /// (patterns such as `(i, j): (u32, u32)` or `_: u8`).
    pub binding: Ident,
    /// Whether `binding` is the argument's own name.
    pub named: bool,
    /// Its declared type.
    pub ty: &'a Type,
}

impl<'a> Function<'a> {
    /// The model of `item`, or `Err` with the item itself when it is not a
    /// function with a body (the caller reports it).
    pub fn from_item(item: &'a Item) -> Result<Self, &'a Item> {
        let Item::Fn(function) = item else {
            return Err(item);
        };
        let mut receiver = None;
        let mut args = Vec::new();
        for (index, input) in function.sig.inputs.iter().enumerate() {
            match input {
                FnArg::Receiver(r) => receiver = Some(r),
                FnArg::Typed(typed) => {
                    let (binding, named) = binding(&typed.pat, index);
                    args.push(Arg {
                        binding,
                        named,
                        ty: &typed.ty,
                    });
                }
            }
        }
        Ok(Function {
            item: function,
            cfgs: function
                .attrs
                .iter()
                .filter(|attr| attr.path().is_ident("cfg"))
                .collect(),
            receiver,
            args,
            output: match &function.sig.output {
                ReturnType::Default => None,
                ReturnType::Type(_, ty) => Some(ty),
            },
        })
    }

    /// The function's name.
    pub fn ident(&self) -> &'a Ident {
        &self.item.sig.ident
    }
}

/// The closure's name for argument `index` with pattern `pat`, and
/// whether it is the argument's own.
fn binding(pat: &Pat, index: usize) -> (Ident, bool) {
    match pat {
        Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => (p.ident.clone(), true),
        // Mixed-site hygiene: never the same variable as a user's `arg1`.
        _ => (
            Ident::new(&format!("arg{index}"), Span::mixed_site()),
            false,
        ),
    }
}

/// `tokens` as the user would write them, for messages: the token
/// stream's own printing puts spaces everywhere (`& [u8]`, `Vec < T >`).
pub fn source(tokens: &impl quote::ToTokens) -> String {
    let mut text = tokens.to_token_stream().to_string();
    for (spaced, tight) in [
        ("& ", "&"),
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ,", ","),
        (":: ", "::"),
        (" ::", "::"),
        ("( ", "("),
        (" )", ")"),
        ("[ ", "["),
        (" ]", "]"),
        (" ;", ";"),
        ("->", " -> "),
        ("  ", " "),
    ] {
        text = text.replace(spaced, tight);
    }
    text
}
