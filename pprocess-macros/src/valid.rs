//! The checks: what the attributes cannot wrap, each reported as a
//! `syn::Error` on the offending token with what to do instead. All the
//! errors of one function are combined, so the user sees them at once.
//!
//! What cannot be checked here, because it needs the types resolved (the
//! return type serializes, the arguments of a `#[reusable]` function
//! deserialize), is asserted by the generated code at the type's span.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::visit::{self, Visit};
use syn::{Error, Ident, Item, Lifetime, Safety, Type, TypeFnPtr, TypeImplTrait, TypeReference};

use crate::ast::{Function, Kind, source};
use crate::place::Misplaced;

/// Every error of `function` under `kind`, standing at `place` (`None`:
/// module level, or not known), combined; `Ok` if none.
pub fn check(function: &Function<'_>, kind: Kind, place: Option<&Misplaced>) -> Result<(), Error> {
    let attribute = kind.attribute();
    let name = function.ident();
    let sig = &function.item.sig;
    let mut errors = Errors(None);

    if let Some(async_token) = &sig.asyncness {
        errors.push(
            async_token,
            format!(
                "{attribute} cannot wrap an `async fn`: a created process runs the function \
                 to completion and sends what it returns; make `{name}` a plain `fn` (it may \
                 block on an executor of its own inside)"
            ),
        );
    }
    if let Safety::Unsafe(unsafe_token) = &sig.safety {
        errors.push(
            unsafe_token,
            format!(
                "{attribute} cannot wrap an `unsafe fn`: its wrappers would call it without \
                 `unsafe`; wrap a safe function that checks the safety conditions and calls \
                 `{name}`"
            ),
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(
            variadic,
            format!("{attribute} cannot wrap a variadic function: declare each argument"),
        );
    }
    if let Some(receiver) = function.receiver {
        errors.push(
            receiver,
            format!(
                "{attribute} goes on free functions, not methods: the wrappers call \
                 `{name}` by path, without a value for `self`; move it out of the `impl` \
                 block, or wrap a closure: `MakeParallel::new(move |args| value.{name}(args))`"
            ),
        );
    }

    // `Self`, and `impl Trait` that the wrappers would have to name.
    let mut in_args = Found::default();
    in_args.visit_generics(&function.item.sig.generics);
    for arg in &function.args {
        in_args.visit_type(arg.ty);
    }
    let mut in_output = Found::default();
    if let Some(output) = function.output {
        in_output.visit_type(output);
    }
    if function.receiver.is_none() {
        for self_type in in_args.self_types.iter().chain(&in_output.self_types) {
            errors.push(
                self_type,
                format!(
                    "{attribute} goes on free functions: `Self` means nothing outside an \
                     `impl` block; move `{name}` out of it and name the type"
                ),
            );
        }
    }
    // A method, or `Self`, has its own error, which says to move it.
    let self_free = function.receiver.is_none()
        && in_args.self_types.is_empty()
        && in_output.self_types.is_empty();
    if let Some(place) = place.filter(|_| self_free) {
        errors.push(name, misplaced(function, kind, place));
    }
    for impl_trait in &in_args.impl_traits {
        errors.push(
            impl_trait,
            format!(
                "{attribute} cannot name the type of an `impl Trait` argument in its \
                 wrappers; use a type parameter instead: `fn {name}<T: Trait>(value: T)`"
            ),
        );
    }
    for impl_trait in &in_output.impl_traits {
        errors.push(
            impl_trait,
            format!(
                "the creator receives the result of a {attribute} function as the type \
                 it returns, so that type must be named: return a concrete type instead \
                 of `impl Trait`"
            ),
        );
    }
    if let Some(error) = result_errors(function, kind) {
        errors.push_error(error);
    }

    if kind == Kind::Reusable {
        for arg in &function.args {
            let mut borrowed = Borrowed::default();
            borrowed.visit_type(arg.ty);
            for reference in &borrowed.references {
                let owned = owned(reference);
                errors.push(
                    reference,
                    format!(
                        "{attribute} functions receive their arguments over the channel, so \
                         they must be owned: take {owned} instead of `{}`",
                        source(reference)
                    ),
                );
            }
            for lifetime in &borrowed.lifetimes {
                errors.push(
                    lifetime,
                    format!(
                        "{attribute} functions receive their arguments over the channel, so \
                         they must own their data: use an owned type, without the lifetime \
                         `{lifetime}` (or with `'static`)"
                    ),
                );
            }
        }
    }

    errors.0.map_or(Ok(()), Err)
}

/// What to do about a function that stands where its module cannot go.
fn misplaced(function: &Function<'_>, kind: Kind, place: &Misplaced) -> String {
    let attribute = kind.attribute();
    let name = function.ident();
    let at_module_level = format!("{attribute} goes on functions at module level");
    let wrapper = match kind {
        Kind::Parallel => "MakeParallel",
        Kind::Reusable => "MakeReusable",
    };
    match place {
        Misplaced::Body(Some(outer)) => format!(
            "{at_module_level}: the module it generates cannot see a function declared in \
             `{outer}`'s body; move `{name}` out of `{outer}`, to module level"
        ),
        Misplaced::Body(None) => format!(
            "{at_module_level}: the module it generates cannot see a function declared in a \
             block; move `{name}` out of the block, to module level"
        ),
        Misplaced::Impl { ty, header } => {
            let path = if ty.contains('<') {
                format!("<{ty}>::{name}")
            } else {
                format!("{ty}::{name}")
            };
            format!(
                "{at_module_level}, not in an `impl` block, where the module it generates \
                 cannot go: move `{name}` out of `impl {header}`, or keep it there and wrap a \
                 closure that calls it: `{wrapper}::new({})`",
                calling(function, &path)
            )
        }
        Misplaced::Trait(name_of_trait) => format!(
            "{at_module_level}, not in a trait, where the module it generates cannot go: \
             move `{name}` out of `trait {name_of_trait}`, or wrap a closure that calls an \
             implementation of it in `{wrapper}::new(..)`"
        ),
    }
}

/// A closure that takes the arguments of `function` as its wrappers do
/// and calls `path` with them: `|(i, j): (u32, u32)| Grid::cell(i, j)`.
fn calling(function: &Function<'_>, path: &str) -> String {
    let names: Vec<String> = function
        .args
        .iter()
        .map(|arg| arg.binding.to_string())
        .collect();
    let types: Vec<String> = function.args.iter().map(|arg| source(arg.ty)).collect();
    let (pattern, ty) = match (&names[..], &types[..]) {
        ([name], [ty]) => (name.clone(), ty.clone()),
        _ => (
            format!("({})", names.join(", ")),
            format!("({})", types.join(", ")),
        ),
    };
    format!("|{pattern}: {ty}| {path}({})", names.join(", "))
}

/// The errors of a result type that cannot be sent: borrowed, or holding
/// a `std::io::Error`; `None` if it has neither.
pub fn result_errors(function: &Function<'_>, kind: Kind) -> Option<Error> {
    let attribute = kind.attribute();
    let name = function.ident();
    let mut errors = Errors(None);
    if let Some(output) = function.output {
        let mut borrowed = Borrowed::default();
        borrowed.visit_type(output);
        for reference in &borrowed.references {
            errors.push(
                reference,
                format!(
                    "the result of a {attribute} function is sent to the creator, so it must \
                     be owned: return {} instead of `{}`",
                    owned(reference),
                    source(reference)
                ),
            );
        }
        for lifetime in &borrowed.lifetimes {
            errors.push(
                lifetime,
                format!(
                    "the result of a {attribute} function is sent to the creator, so it must \
                     own its data: return an owned type, without the lifetime `{lifetime}` \
                     (or with `'static`)"
                ),
            );
        }
        let mut io = IoError::default();
        io.visit_type(output);
        for path in &io.paths {
            errors.push(
                path,
                format!(
                    "`std::io::Error` cannot be sent over the channel (it does not implement \
                     serde's `Serialize` and `Deserialize`): return `Result<T, String>`, \
                     with `.map_err(|error| error.to_string())` in `{name}`, or an error \
                     type that derives them"
                ),
            );
        }
    }
    errors.0
}

/// The errors found so far, combined into one.
struct Errors(Option<Error>);

impl Errors {
    fn push(&mut self, tokens: impl ToTokens, message: String) {
        self.push_error(Error::new_spanned(tokens, message));
    }

    fn push_error(&mut self, error: Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }
}

/// The `Self` types and `impl Trait` types in a signature.
#[derive(Default)]
struct Found {
    self_types: Vec<TokenStream>,
    impl_traits: Vec<TokenStream>,
}

impl Visit<'_> for Found {
    fn visit_type(&mut self, ty: &Type) {
        match ty {
            Type::Path(path)
                if path.qself.is_none()
                    && path
                        .path
                        .segments
                        .first()
                        .is_some_and(|s| s.ident == "Self") =>
            {
                // `Self` or `Self::Output`: point at `Self`.
                self.self_types
                    .push(path.path.segments[0].ident.to_token_stream());
            }
            _ => visit::visit_type(self, ty),
        }
    }

    fn visit_type_impl_trait(&mut self, impl_trait: &TypeImplTrait) {
        self.impl_traits.push(impl_trait.to_token_stream());
    }
}

/// The references and the lifetimes other than `'static` in an argument's
/// type, outside of function pointer types (whose lifetimes are their own).
#[derive(Default)]
struct Borrowed<'a> {
    references: Vec<&'a TypeReference>,
    lifetimes: Vec<&'a Lifetime>,
}

impl<'a> Visit<'a> for Borrowed<'a> {
    fn visit_type_reference(&mut self, reference: &'a TypeReference) {
        self.references.push(reference);
    }

    fn visit_lifetime(&mut self, lifetime: &'a Lifetime) {
        if lifetime.ident != "static" {
            self.lifetimes.push(lifetime);
        }
    }

    fn visit_type_fn_ptr(&mut self, _: &'a TypeFnPtr) {}

    fn visit_parenthesized_generic_arguments(&mut self, _: &'a syn::ParenthesizedGenericArguments) {
    }

    // An `impl Trait` is an error of its own.
    fn visit_type_impl_trait(&mut self, _: &'a TypeImplTrait) {}
}

/// The owned type to write instead of `reference`, quoted: `String` for
/// `&str`, `Vec<T>` for `&[T]`, `T` for `&T`.
fn owned(reference: &TypeReference) -> String {
    match &*reference.elem {
        Type::Path(path) if path.path.is_ident("str") => "`String`".to_owned(),
        Type::Path(path) if path.path.is_ident("Path") => "`PathBuf`".to_owned(),
        Type::Slice(slice) => format!("`Vec<{}>`", source(&slice.elem)),
        elem => format!("`{}`", source(elem)),
    }
}

/// The paths to `std::io::Error` in a type, as written: `io::Result`
/// (`std::io::Result`, ...) and `io::Error`.
#[derive(Default)]
struct IoError<'a> {
    paths: Vec<&'a syn::Path>,
}

impl<'a> Visit<'a> for IoError<'a> {
    fn visit_path(&mut self, path: &'a syn::Path) {
        let segments: Vec<&Ident> = path.segments.iter().map(|s| &s.ident).collect();
        if let [.., module, last] = &segments[..] {
            if *module == "io" && (*last == "Result" || *last == "Error") {
                self.paths.push(path);
                return;
            }
        }
        visit::visit_path(self, path);
    }
}

/// The error for an item that is not a function with a body, on its
/// keyword.
pub fn not_a_function(item: &Item, kind: Kind) -> Error {
    let attribute = kind.attribute();
    let (tokens, what): (TokenStream, &str) = match item {
        Item::Const(item) => (item.const_token.to_token_stream(), "a `const`"),
        Item::Enum(item) => (item.enum_token.to_token_stream(), "an `enum`"),
        Item::ExternCrate(item) => (item.extern_token.to_token_stream(), "an `extern crate`"),
        Item::ForeignMod(item) => (item.abi.to_token_stream(), "an `extern` block"),
        Item::Impl(item) => (item.impl_token.to_token_stream(), "an `impl` block"),
        Item::Macro(item) => (item.mac.to_token_stream(), "a macro"),
        Item::Mod(item) => (item.mod_token.to_token_stream(), "a module"),
        Item::Static(item) => (item.static_token.to_token_stream(), "a `static`"),
        Item::Struct(item) => (item.struct_token.to_token_stream(), "a `struct`"),
        Item::Trait(item) => (item.trait_token.to_token_stream(), "a `trait`"),
        Item::TraitAlias(item) => (item.trait_token.to_token_stream(), "a trait alias"),
        Item::Type(item) => (item.type_token.to_token_stream(), "a type alias"),
        Item::Union(item) => (item.union_token.to_token_stream(), "a `union`"),
        Item::Use(item) => (item.use_token.to_token_stream(), "a `use`"),
        Item::Verbatim(tokens) => match syn::parse2::<syn::TraitItemFn>(tokens.clone()) {
            Ok(function) => (
                function.sig.fn_token.to_token_stream(),
                "a function declaration without a body",
            ),
            Err(_) => (tokens.clone(), "this item"),
        },
        other => (other.to_token_stream(), "this item"),
    };
    Error::new_spanned(
        tokens,
        format!(
            "{attribute} goes on a free function with a body, such as \
             `fn calculate(i: u32, j: u32) -> u32 {{ ... }}`, not on {what}"
        ),
    )
}

/// Whether the wrappers' signatures can be written for `function` (no
/// receiver, no `Self`, no `impl Trait`), so that the fallback can stub
/// them.
pub fn nameable(function: &Function<'_>) -> bool {
    let mut found = Found::default();
    found.visit_signature(&function.item.sig);
    function.receiver.is_none() && found.self_types.is_empty() && found.impl_traits.is_empty()
}
