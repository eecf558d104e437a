//! The generated code: the user's function unchanged, and next to it a
//! module of the same name holding the wrappers and the pmap helpers.
//!
//! Everything generated calls into `::pprocess::__private`; nothing here
//! re-implements the runtime. For `fn calculate(i: u32, j: u32) -> u32`
//! (private), `#[parallel]` writes:
//!
//! ```text
//! fn calculate(i: u32, j: u32) -> u32 { ... }
//!
//! mod calculate {
//!     use super::*;
//!
//!     pub(super) fn parallel() -> MakeParallel<impl Fn((u32, u32)) -> u32 + Copy> {
//!         assert_result::<u32>();
//!         MakeParallel::new(|(i, j): (u32, u32)| super::calculate(i, j))
//!     }
//!
//!     pub(super) fn pmap<'env, I>(inputs: I) -> Map<'env, u32>
//!     where
//!         I: IntoIterator<Item = (u32, u32)>,
//!         I::IntoIter: 'env,
//!     {
//!         assert_result::<u32>();
//!         pmap(|(i, j): (u32, u32)| super::calculate(i, j), inputs, get_number_of_cores(), false)
//!     }
//!
//!     pub(super) fn pmap_limit<'env, I>(inputs: I, limit: usize) -> Map<'env, u32>
//!     where
//!         I: IntoIterator<Item = (u32, u32)>,
//!         I::IntoIter: 'env,
//!     {
//!         assert_result::<u32>();
//!         pmap(|(i, j): (u32, u32)| super::calculate(i, j), inputs, limit, false)
//!     }
//!
//!     // pmap_reused(inputs) and pmap_reused_limit(inputs, limit): the same
//!     // with `true` for reuse.
//! }
//! ```
//!
//! with every path through `::pprocess::__private`, every trait through
//! `::core`, every item documented, and the helpers `#[must_use]`. `#[reusable]` adds `reusable()`,
//! the same as `parallel()` with `MakeReusable`, which also asserts that
//! each argument type serializes. With the runtime's `mpi` feature, the
//! module also registers the function for MPI ranks and gets `pmap_on`
//! and `pqueue_on` (see `cluster.rs`). The module's items are one visibility level wider than
//! the function (`pub(super)` for a private one), so that they reach as
//! far as the function does.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::visit_mut::{self, VisitMut};
use syn::{
    GenericParam, Generics, Ident, Lifetime, Path, PathSegment, Type, TypeReference, Visibility,
    WherePredicate, parse_quote,
};

use crate::ast::{Function, Kind};
use crate::cluster;

/// Whether the module's functions get their real bodies, or stubs that
/// only keep uses of them type-checking while an error is reported.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Bodies {
    /// The real wrappers and helpers.
    Real,
    /// Signatures only, for the fallback: no cascade of errors at uses.
    Stub {
        /// Whether the result type is one that cannot be sent: then the
        /// helpers return an empty iterator of `pprocess::Result<T>`,
        /// which needs nothing of `T`, where a `Map` would add an error at
        /// each use (iterating a `Map` decodes its results).
        unsendable: bool,
    },
}

/// The module generated next to `function` (not the function itself).
pub fn module(function: &Function<'_>, kind: Kind, bodies: Bodies) -> TokenStream {
    let ident = function.ident();
    let cfgs = &function.cfgs;
    let vis = &function.item.vis;
    let inner_vis = widen(vis);
    let attribute = kind.attribute();

    // The signature as seen from inside the module.
    let mut generics = function.item.sig.generics.clone();
    Relocate.visit_generics_mut(&mut generics);
    let mut arg_types: Vec<Type> = function.args.iter().map(|arg| arg.ty.clone()).collect();
    for ty in &mut arg_types {
        Relocate.visit_type_mut(ty);
    }
    let mut output: Type = function
        .output
        .map_or_else(|| parse_quote!(()), Type::clone);
    Relocate.visit_type_mut(&mut output);

    let params = generics.params.iter();
    let predicates = generics
        .where_clause
        .iter()
        .flat_map(|clause| clause.predicates.iter())
        .collect::<Vec<&WherePredicate>>();
    let args = tuple(&arg_types);
    let private = quote!(::pprocess::__private);
    let callable = quote!(impl ::core::ops::Fn(#args) -> #output + ::core::marker::Copy);

    // The pmap helpers: `'env` and the iterator type come first and last.
    let env = Lifetime::new(&fresh_lifetime("env", &generics), Span::call_site());
    let iter = fresh_type("I", &generics);
    let (lifetimes, others): (Vec<&GenericParam>, Vec<&GenericParam>) = generics
        .params
        .iter()
        .partition(|param| matches!(param, GenericParam::Lifetime(_)));
    let mut env_args = args.clone();
    let mut env_output = output.clone();
    ElidedTo(&env).visit_type_mut(&mut env_args);
    ElidedTo(&env).visit_type_mut(&mut env_output);
    let pmap_params = quote!(#env, #(#lifetimes,)* #(#others,)* #iter);
    // The inputs and the function live in the map for `'env`: so do the
    // function's lifetimes and types (the caller picks `'env`, short enough).
    let outlive = generics.params.iter().filter_map(|param| match param {
        GenericParam::Lifetime(param) => Some(param.lifetime.to_token_stream()),
        GenericParam::Type(param) => Some(param.ident.to_token_stream()),
        GenericParam::Const(_) => None,
    });
    let pmap_where = quote! {
        where
            #iter: ::core::iter::IntoIterator<Item = #env_args>,
            <#iter as ::core::iter::IntoIterator>::IntoIter: #env,
            #(#outlive: #env,)*
            #(#predicates,)*
    };
    let map = match bodies {
        Bodies::Stub { unsendable: true } => {
            quote!(::core::iter::Empty<::pprocess::Result<#env_output>>)
        }
        _ => quote!(#private::Map<#env, #env_output>),
    };

    // What each function does, in its own documentation.
    let inputs_doc = inputs_doc(function);
    let mod_doc = format!(
        "The `{attribute}` wrappers of the function `{ident}`: `parallel()`{} gives it to \
         exchanges, maps and queues; `pmap(inputs)` and `pmap_limit(inputs, limit)` run it \
         on many inputs in parallel, a process per input; `pmap_reused(inputs)` and \
         `pmap_reused_limit(inputs, limit)` run it in a few reused processes, for tasks \
         shorter than a fork (a few tenths of a millisecond).",
        if kind == Kind::Reusable {
            " (and `reusable()` for reused processes)"
        } else {
            ""
        }
    );
    let parallel_doc = format!(
        "`{ident}` as a callable that sends its result over its channel, a `MakeParallel`: \
         give it to the `manage` of an `Exchange`, `Map` or `Queue`, or `bind` it to its \
         arguments for `pprocess::start`. It takes {inputs_doc}."
    );
    let reusable_doc = format!(
        "`{ident}` as a callable that can also serve reused processes, a `MakeReusable`: \
         on an `Exchange`, `Map` or `Queue` with `reuse(true)`, the arguments of each call \
         are sent to a process that finished its previous call. It takes {inputs_doc}."
    );
    let pmap_doc = format!(
        "Runs `{ident}` on every input, each in a created process, at most as many at once \
         as there are cores, like `pprocess::pmap`: iterate the returned `Map` for the \
         results in input order. Each input is {inputs_doc}."
    );
    let pmap_limit_doc = format!(
        "Runs `{ident}` on every input like `pmap`, with at most `limit` processes at once, \
         like `pprocess::pmap_limit`."
    );
    let pmap_reused_doc = format!(
        "Runs `{ident}` on every input in reused processes, at most as many as there are \
         cores, like `pprocess::Map::new().reuse(true).pmap(..)`: each process takes input \
         after input, so a task costs microseconds instead of a fork. A failing task still \
         fails only its own index, but the tasks a process runs share its memory: use \
         `pmap` when each task must start from a fresh copy of the creator."
    );
    let pmap_reused_limit_doc = format!(
        "Runs `{ident}` on every input like `pmap_reused`, in at most `limit` reused \
         processes."
    );
    let must_use = "the map runs the tasks while it is iterated, and dropping it kills its \
                    processes: iterate or `collect` it";

    let (parallel_ty, reusable_ty, parallel_body, reusable_body);
    let (pmap_body, pmap_limit_body, pmap_reused_body, pmap_reused_limit_body);
    let mut registration = None;
    match bodies {
        Bodies::Real => {
            let call = closure(function, &args);
            registration = cluster::registration(function, &inner_vis, &args, &output);
            let call_site = Span::call_site();
            // The return type must serialize (and deserialize, to be
            // received): asserted with the return type's span, so that the
            // error points at it and not into this module. The pmap calls
            // carry the same span, so that rustc reports the assertion's
            // error once instead of once more per call.
            let (first, last) = function.output.map_or((call_site, call_site), spans);
            let assert_result = function.output.map(|_| {
                quote_spanned! {first=>
                    ::pprocess::__private::assert_result::<#output
                }
                .into_iter()
                .chain(quote_spanned!(last=> >();))
                .collect::<TokenStream>()
            });
            let assert_args = function.args.iter().zip(&arg_types).map(|(arg, ty)| {
                let (first, last) = spans(arg.ty);
                let mut assert = quote_spanned! {first=>
                    ::pprocess::__private::assert_argument::<#ty
                };
                assert.extend(quote_spanned!(last=> >();));
                assert
            });
            // `::pprocess::__private::pmap(#call, inputs, limit, reuse)`,
            // spanned as said above.
            let helper = |limit: TokenStream, reuse: bool| {
                let mut call_helper = quote_spanned!(first=> ::pprocess::__private::pmap);
                call_helper.extend(quote_spanned!(last=> (#call, inputs, #limit, #reuse)));
                call_helper
            };
            let cores = quote!(::pprocess::__private::get_number_of_cores());
            let pmap = helper(cores.clone(), false);
            let pmap_limit = helper(quote!(limit), false);
            let pmap_reused = helper(cores, true);
            let pmap_reused_limit = helper(quote!(limit), true);
            parallel_ty = quote!(#private::MakeParallel<#callable>);
            reusable_ty = quote!(#private::MakeReusable<#callable>);
            parallel_body = quote!(#assert_result #private::MakeParallel::new(#call));
            reusable_body = quote! {
                #assert_result
                #(#assert_args)*
                #private::MakeReusable::new(#call)
            };
            pmap_body = quote!(#assert_result #pmap);
            pmap_limit_body = quote!(#assert_result #pmap_limit);
            pmap_reused_body = quote!(#assert_result #pmap_reused);
            pmap_reused_limit_body = quote!(#assert_result #pmap_reused_limit);
        }
        Bodies::Stub { .. } => {
            let unimplemented = quote!(::core::unimplemented!());
            parallel_ty = quote!(#private::MakeParallel<fn(#args) -> #output>);
            reusable_ty = quote!(#private::MakeReusable<fn(#args) -> #output>);
            parallel_body = unimplemented.clone();
            reusable_body = unimplemented.clone();
            pmap_body = quote!(let _ = inputs; #unimplemented);
            pmap_limit_body = quote!(let _ = (inputs, limit); #unimplemented);
            pmap_reused_body = pmap_body.clone();
            pmap_reused_limit_body = pmap_limit_body.clone();
        }
    }
    let where_clause = (!predicates.is_empty()).then(|| quote!(where #(#predicates,)*));
    let reusable = (kind == Kind::Reusable).then(|| {
        quote! {
            #[doc = #reusable_doc]
            #inner_vis fn reusable<#(#params),*>() -> #reusable_ty
            #where_clause
            {
                #reusable_body
            }
        }
    });
    let params = generics.params.iter();

    quote! {
        #(#cfgs)*
        #[doc = #mod_doc]
        #vis mod #ident {
            #[allow(unused_imports)]
            use super::*;

            #[doc = #parallel_doc]
            #inner_vis fn parallel<#(#params),*>() -> #parallel_ty
            #where_clause
            {
                #parallel_body
            }

            #reusable

            #[doc = #pmap_doc]
            #[must_use = #must_use]
            #inner_vis fn pmap<#pmap_params>(inputs: #iter) -> #map
            #pmap_where
            {
                #pmap_body
            }

            #[doc = #pmap_limit_doc]
            #[must_use = #must_use]
            #inner_vis fn pmap_limit<#pmap_params>(
                inputs: #iter,
                limit: ::core::primitive::usize,
            ) -> #map
            #pmap_where
            {
                #pmap_limit_body
            }

            #[doc = #pmap_reused_doc]
            #[must_use = #must_use]
            #inner_vis fn pmap_reused<#pmap_params>(inputs: #iter) -> #map
            #pmap_where
            {
                #pmap_reused_body
            }

            #[doc = #pmap_reused_limit_doc]
            #[must_use = #must_use]
            #inner_vis fn pmap_reused_limit<#pmap_params>(
                inputs: #iter,
                limit: ::core::primitive::usize,
            ) -> #map
            #pmap_where
            {
                #pmap_reused_limit_body
            }

            #registration
        }
    }
}

/// The spans of the first and the last token of `ty`: generated tokens
/// spanned with them make an expression that rustc reports as covering the
/// whole type (spans cannot be joined on stable; rustc joins an
/// expression's first and last token).
fn spans(ty: &Type) -> (Span, Span) {
    let mut tokens = ty.to_token_stream().into_iter();
    let first = tokens
        .next()
        .map_or_else(Span::call_site, |token| match token {
            TokenTree::Group(group) => group.span_open(),
            token => token.span(),
        });
    let last = tokens.last().map_or(first, |token| match token {
        TokenTree::Group(group) => group.span_close(),
        token => token.span(),
    });
    (first, last)
}

/// The arguments as one type: `()`, the type of the only one, or a tuple.
fn tuple(types: &[Type]) -> Type {
    match types {
        [only] => only.clone(),
        _ => parse_quote!((#(#types),*)),
    }
}

/// The closure that takes the arguments as [`tuple`] does and calls the
/// user's function, naming its type and const parameters.
fn closure(function: &Function<'_>, args: &Type) -> TokenStream {
    let bindings = function.args.iter().map(|arg| &arg.binding);
    let pattern = match &function.args[..] {
        [only] => only.binding.to_token_stream(),
        _ => quote!((#(#bindings),*)),
    };
    let bindings = function.args.iter().map(|arg| &arg.binding);
    let ident = function.ident();
    let named: Vec<&Ident> = function
        .item
        .sig
        .generics
        .params
        .iter()
        .filter_map(|param| match param {
            GenericParam::Type(param) => Some(&param.ident),
            GenericParam::Const(param) => Some(&param.ident),
            GenericParam::Lifetime(_) => None,
        })
        .collect();
    let turbofish = (!named.is_empty()).then(|| quote!(::<#(#named),*>));
    quote!(|#pattern: #args| super::#ident #turbofish (#(#bindings),*))
}

/// How the documentation describes one input.
fn inputs_doc(function: &Function<'_>) -> String {
    let named = function.args.iter().all(|arg| arg.named);
    let names: Vec<String> = function
        .args
        .iter()
        .map(|arg| arg.binding.to_string())
        .collect();
    match (&names[..], named) {
        ([], _) => "`()` (no arguments)".to_owned(),
        ([only], true) => format!("the argument `{only}`"),
        (_, true) => format!("the arguments as a tuple `({})`", names.join(", ")),
        ([_], false) => "the argument".to_owned(),
        (_, false) => "the arguments as a tuple".to_owned(),
    }
}

/// The visibility of the module's items, one level wider than the
/// function's (seen from inside the module): private becomes
/// `pub(super)`, `pub(super)` becomes `pub(in super::super)`, `pub` and
/// `pub(crate)` stay.
fn widen(vis: &Visibility) -> TokenStream {
    match vis {
        Visibility::Inherited => quote!(pub(super)),
        Visibility::Public(_) => vis.to_token_stream(),
        Visibility::Restricted(restricted) => {
            let mut path: Path = (*restricted.path).clone();
            if path.is_ident("crate") {
                return vis.to_token_stream();
            }
            Relocate.visit_path_mut(&mut path);
            quote!(pub(in #path))
        }
    }
}

/// Rewrites paths relative to the function's module (`self::x`,
/// `super::x`) to be relative to the generated module inside it.
struct Relocate;

impl VisitMut for Relocate {
    fn visit_path_mut(&mut self, path: &mut Path) {
        if path.leading_colon.is_none() {
            if let Some(first) = path.segments.first_mut() {
                if first.ident == "self" {
                    first.ident = Ident::new("super", first.ident.span());
                } else if first.ident == "super" {
                    let span = first.ident.span();
                    path.segments
                        .insert(0, PathSegment::from(Ident::new("super", span)));
                }
            }
        }
        visit_mut::visit_path_mut(self, path);
    }
}

/// Gives elided lifetimes (`&T`, `'_`) the name `'env`, outside of
/// function pointer types and `Fn(..)` bounds, which elide their own.
struct ElidedTo<'a>(&'a Lifetime);

impl VisitMut for ElidedTo<'_> {
    fn visit_type_reference_mut(&mut self, reference: &mut TypeReference) {
        if reference.lifetime.is_none() {
            reference.lifetime = Some(self.0.clone());
        }
        visit_mut::visit_type_reference_mut(self, reference);
    }

    fn visit_lifetime_mut(&mut self, lifetime: &mut Lifetime) {
        if lifetime.ident == "_" {
            *lifetime = self.0.clone();
        }
    }

    fn visit_type_fn_ptr_mut(&mut self, _: &mut syn::TypeFnPtr) {}

    fn visit_parenthesized_generic_arguments_mut(
        &mut self,
        _: &mut syn::ParenthesizedGenericArguments,
    ) {
    }
}

/// `'base`, or a variant the function's own lifetimes do not use.
fn fresh_lifetime(base: &str, generics: &Generics) -> String {
    let taken = |name: &str| {
        generics
            .lifetimes()
            .any(|param| param.lifetime.ident == name)
    };
    let mut name = base.to_owned();
    while taken(&name) {
        name.insert(0, '_');
    }
    format!("'{name}")
}

/// `Base`, or a variant the function's own type parameters do not use.
fn fresh_type(base: &str, generics: &Generics) -> Ident {
    let taken = |name: &str| {
        generics.params.iter().any(|param| match param {
            GenericParam::Type(param) => param.ident == name,
            GenericParam::Const(param) => param.ident == name,
            GenericParam::Lifetime(_) => false,
        })
    };
    let mut name = base.to_owned();
    while taken(&name) {
        name.insert(0, '_');
    }
    format_ident!("{name}")
}
