//! Where the function stands: at module level, or where the generated
//! module cannot go (another function's body, an `impl` or `trait`
//! block). An attribute macro is not told; this module finds out from the
//! function's own source file.
//!
//! The trade-off: the generated module is right only at module level, and
//! no generated shape makes rustc itself say so (a module in a function's
//! body cannot see the function, and rustc says ``cannot find function in
//! module `super` ``; a module in an `impl` is rejected by the parser, with
//! its own message). So the file named by the function's span is read and
//! parsed again (once per file and thread, while its text is unchanged),
//! and every function of the same name and signature in it says where it
//! stands. When the answer is not certain, the attribute expands as
//! before, and rustc's message is what the user sees: the file cannot be
//! read or parsed, the compiler is older than 1.88 (no
//! `Span::local_file`), the function was written by a macro (its `fn` and
//! its name are not both in the file), or two functions of that name and
//! signature stand in different places. A wrong "misplaced" is worse than
//! rustc's message, so only an agreement of every candidate counts.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs;
use std::mem;
use std::path::PathBuf;

use quote::ToTokens;
use syn::visit::{self, Visit};
use syn::{Block, ImplItemFn, ItemFn, ItemImpl, ItemMod, ItemTrait, Signature, TraitItemFn};

use crate::ast::source;

/// A place where the attribute's module cannot go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Misplaced {
    /// In a block: the body of the function named so, or (`None`) a block
    /// outside any function, such as a `const`'s initializer.
    Body(Option<String>),
    /// In an `impl` block: its type, and its header as written (`Grid`,
    /// `Shape for Grid`).
    Impl {
        /// The type, as written.
        ty: String,
        /// What follows `impl`, as written.
        header: String,
    },
    /// In the `trait` named so.
    Trait(String),
}

impl Misplaced {
    /// Whether a module can go there (a stub one, for the fallback): in a
    /// block, yes; in an `impl` or a `trait`, no.
    pub fn holds_modules(&self) -> bool {
        matches!(self, Misplaced::Body(_))
    }
}

/// Where `function` stands, if its file says for certain that it is not at
/// module level; `None` at module level and whenever it is not certain.
pub fn of(function: &ItemFn) -> Option<Misplaced> {
    let keyword = function.sig.fn_token.span;
    let name = function.sig.ident.span();
    let file = name.local_file()?;
    // A function made by a macro has its `fn` where the macro is written.
    if keyword.local_file().as_ref() != Some(&file) || keyword.start().line != name.start().line {
        return None;
    }
    let text = fs::read_to_string(&file).ok()?;
    let signature = signature(&function.sig);
    FILES.with(|files| {
        let mut files = files.borrow_mut();
        if files.get(&file).is_none_or(|known| known.text != text) {
            let functions = functions(&text);
            files.insert(file.clone(), Known { text, functions });
        }
        agreed(files[&file].functions.as_deref()?, &signature)
    })
}

thread_local! {
    /// The functions of each file read so far, with the text they were
    /// found in. Only strings: the tokens of one macro call cannot be kept
    /// for the next.
    static FILES: RefCell<HashMap<PathBuf, Known>> = RefCell::new(HashMap::new());
}

/// A file's text and where each function in it stands (`None`: the text
/// does not parse).
struct Known {
    text: String,
    functions: Option<Vec<(String, Option<Misplaced>)>>,
}

/// Every function in the source `text`, by signature, with its place
/// (`None`: module level); `None` if `text` does not parse.
fn functions(text: &str) -> Option<Vec<(String, Option<Misplaced>)>> {
    let file = syn::parse_file(text).ok()?;
    let mut walk = Walk::default();
    walk.visit_file(&file);
    Some(walk.found)
}

/// The place of the functions with `signature`, if there are some and all
/// of them stand in the same one.
fn agreed(functions: &[(String, Option<Misplaced>)], signature: &str) -> Option<Misplaced> {
    let mut places = functions
        .iter()
        .filter(|(found, _)| found == signature)
        .map(|(_, place)| place);
    let first = places.next()?;
    places.all(|place| place == first).then(|| first.clone())?
}

/// A signature as text, to compare a function with those of its file.
fn signature(sig: &Signature) -> String {
    sig.to_token_stream().to_string()
}

/// The walk through a file: the places it is in, innermost last, and the
/// names of the functions whose bodies it is in since the last module.
#[derive(Default)]
struct Walk {
    places: Vec<Option<Misplaced>>,
    bodies: Vec<String>,
    found: Vec<(String, Option<Misplaced>)>,
}

impl Walk {
    fn record(&mut self, sig: &Signature) {
        let place = self.places.last().cloned().flatten();
        self.found.push((signature(sig), place));
    }

    fn within<'n, T: ?Sized>(
        &mut self,
        place: Option<Misplaced>,
        node: &'n T,
        visit: impl FnOnce(&mut Self, &'n T),
    ) {
        self.places.push(place);
        visit(self, node);
        self.places.pop();
    }

    fn body_of<'n, T: ?Sized>(
        &mut self,
        sig: &Signature,
        node: &'n T,
        visit: impl FnOnce(&mut Self, &'n T),
    ) {
        self.record(sig);
        self.bodies.push(sig.ident.to_string());
        visit(self, node);
        self.bodies.pop();
    }
}

impl<'ast> Visit<'ast> for Walk {
    fn visit_item_fn(&mut self, item: &'ast ItemFn) {
        self.body_of(&item.sig, item, visit::visit_item_fn);
    }

    fn visit_impl_item_fn(&mut self, item: &'ast ImplItemFn) {
        self.body_of(&item.sig, item, visit::visit_impl_item_fn);
    }

    fn visit_trait_item_fn(&mut self, item: &'ast TraitItemFn) {
        // A declaration cannot carry the attribute (that is an error of its
        // own): it must not disagree with the `impl`s that define it.
        if item.default.is_some() {
            self.body_of(&item.sig, item, visit::visit_trait_item_fn);
        }
    }

    fn visit_block(&mut self, block: &'ast Block) {
        let place = Misplaced::Body(self.bodies.last().cloned());
        self.within(Some(place), block, visit::visit_block);
    }

    fn visit_item_impl(&mut self, item: &'ast ItemImpl) {
        let ty = source(&item.self_ty);
        let header = match &item.trait_ {
            Some((path, _)) => format!("{} for {ty}", source(path)),
            None => ty.clone(),
        };
        let place = Misplaced::Impl { ty, header };
        self.within(Some(place), item, visit::visit_item_impl);
    }

    fn visit_item_trait(&mut self, item: &'ast ItemTrait) {
        let place = Misplaced::Trait(item.ident.to_string());
        self.within(Some(place), item, visit::visit_item_trait);
    }

    fn visit_item_mod(&mut self, item: &'ast ItemMod) {
        // A module in a function's body is a module like any other.
        let bodies = mem::take(&mut self.bodies);
        self.within(None, item, visit::visit_item_mod);
        self.bodies = bodies;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place_of(text: &str, function: &str) -> Option<Misplaced> {
        let sig: Signature = syn::parse_str(function).unwrap();
        agreed(&functions(text).unwrap(), &signature(&sig))
    }

    #[test]
    fn functions_at_module_level_and_in_modules_are_not_misplaced() {
        let text = "
            fn top(i: u32) -> u32 { i }
            mod a { mod b { fn nested(i: u32) -> u32 { i } } }
            fn main() { mod inner { fn in_module(i: u32) -> u32 { i } } }
        ";
        assert_eq!(place_of(text, "fn top(i: u32) -> u32"), None);
        assert_eq!(place_of(text, "fn nested(i: u32) -> u32"), None);
        assert_eq!(place_of(text, "fn in_module(i: u32) -> u32"), None);
    }

    #[test]
    fn functions_in_bodies_impls_and_traits_are_misplaced() {
        let text = "
            fn main() { let x = 1; fn local(i: u32) -> u32 { i } }
            impl Grid { fn cell(i: u32) -> u32 { fn deeper() {} i } }
            trait Shape { fn area(i: u32) -> u32 { i } fn side(i: u64) -> u64; }
            impl Shape for Grid { fn side(i: u64) -> u64 { i } }
            const C: () = { fn in_const() {} };
        ";
        let body = |name: &str| Some(Misplaced::Body(Some(name.to_owned())));
        assert_eq!(place_of(text, "fn local(i: u32) -> u32"), body("main"));
        assert_eq!(place_of(text, "fn deeper()"), body("cell"));
        let in_impl = |header: &str| {
            Some(Misplaced::Impl {
                ty: "Grid".to_owned(),
                header: header.to_owned(),
            })
        };
        assert_eq!(place_of(text, "fn cell(i: u32) -> u32"), in_impl("Grid"));
        assert_eq!(
            place_of(text, "fn side(i: u64) -> u64"),
            in_impl("Shape for Grid")
        );
        assert_eq!(
            place_of(text, "fn area(i: u32) -> u32"),
            Some(Misplaced::Trait("Shape".to_owned()))
        );
        assert_eq!(place_of(text, "fn in_const()"), Some(Misplaced::Body(None)));
    }

    #[test]
    fn uncertain_places_are_not_misplaced() {
        let text = "
            fn twice(i: u32) -> u32 { i }
            fn main() { fn twice(i: u32) -> u32 { i } }
            macro_rules! make { () => { fn main() { fn made() {} } } }
        ";
        // Two candidates that disagree, and a function only a macro writes.
        assert_eq!(place_of(text, "fn twice(i: u32) -> u32"), None);
        assert_eq!(place_of(text, "fn made()"), None);
        assert_eq!(functions("fn broken( {"), None);
    }
}
