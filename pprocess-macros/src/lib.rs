//! The `#[parallel]` and `#[reusable]` attributes of
//! [pprocess](https://docs.rs/pprocess).
//!
//! Do not depend on this crate directly: use the attributes through
//! `pprocess`, as `#[pprocess::parallel]` and `#[pprocess::reusable]`. The
//! code they generate calls into `pprocess` (its hidden `__private`
//! module), so the two crates are released together, at the same version.
//!
//! The crate is split by stage: `attr` parses the attribute's arguments,
//! `ast` models the function, `place` finds where it stands (module level,
//! a function's body, an `impl`), `valid` checks it, `expand` writes the
//! generated module, and `fallback` is what is emitted instead when a check
//! fails (the errors next to the function, unchanged).

mod ast;
mod attr;
mod cluster;
mod expand;
mod fallback;
mod place;
mod valid;

use proc_macro::TokenStream;
use quote::quote;
use syn::Item;

use crate::ast::{Function, Kind};
use crate::expand::Bodies;

/// Makes a free function runnable in created processes: generates, next to
/// it, a module of the same name with its `MakeParallel` wrapper and
/// `pmap` helpers.
///
/// ```
/// #[pprocess::parallel]
/// fn calculate(i: u32, j: u32) -> u32 {
///     i * 10 + j
/// }
///
/// fn main() -> pprocess::Result<()> {
///     assert_eq!(calculate(1, 2), 12); // still a plain function
///
///     // One process per input, at most as many at once as there are cores;
///     // the results in input order.
///     let cells: Vec<u32> = calculate::pmap([(0, 1), (2, 3), (4, 5)])
///         .collect::<pprocess::Result<_>>()?;
///     assert_eq!(cells, [1, 23, 45]);
///
///     // The wrapper, wherever a `MakeParallel` goes.
///     let mut queue = pprocess::Queue::<u32>::new().limit(2);
///     let mut call = queue.manage(calculate::parallel());
///     call.call((9, 9));
///     assert_eq!(queue.next().unwrap()?, 99);
///     Ok(())
/// }
/// ```
///
/// # What it generates
///
/// The function stays exactly as written (signature, attributes, docs,
/// visibility): calling it runs it here, as before. Functions and modules
/// live in different namespaces, so next to `fn calculate` the attribute
/// adds `mod calculate`, with the function's visibility (and its `#[cfg]`
/// attributes), holding these functions:
///
/// - `calculate::parallel()` returns the function wrapped in a
///   `pprocess::MakeParallel`, a callable that runs it in the created
///   process and sends its result over the channel. It goes wherever a
///   `MakeParallel` goes: the `manage` of an `Exchange`, `Map` or `Queue`,
///   or `pprocess::start(calculate::parallel().bind((1, 2)))`. The wrapper
///   is `Copy`: call `parallel()` once, use it many times.
/// - `calculate::pmap(inputs)` runs the function on every input, each in a
///   created process, at most as many at once as there are cores, and
///   returns a `pprocess::Map`: iterate it for each input's
///   `pprocess::Result`, in input order. It is `pprocess::pmap` with the
///   function filled in.
/// - `calculate::pmap_limit(inputs, limit)` is the same with at most
///   `limit` processes at once (`pprocess::pmap_limit`).
/// - `calculate::pmap_reused(inputs)` and
///   `calculate::pmap_reused_limit(inputs, limit)` run the function on
///   every input in a few reused processes (as many as there are cores, or
///   `limit`), each taking input after input from memory it shares with the
///   creator: `Map::new().limit(limit).reuse(true).pmap(..)` with the
///   function filled in. The inputs are not sent either.
///
/// # Which helper: `pmap` or `pmap_reused`
///
/// A process per input (`pmap`) costs a fork, about 0.2-0.5 ms; a reused
/// process takes its next input in a few microseconds (about 0.15 us on
/// the 2-CPU machine of the README's figures). So:
///
/// - Tasks of a millisecond or less, or many thousands of them: use
///   `pmap_reused`. 10,000 trivial tasks take 2-9 ms that way, 1.6-4.8 s
///   with a process each.
/// - Tasks of several milliseconds or more, or tasks that must each start
///   from a fresh copy of the creator (a task that leaks, changes global
///   state or leaves a native library in a bad state must not affect the
///   next one): use `pmap`. Its fork costs a few percent at most, and
///   inputs that trickle in (a socket, a terminal) start at once, where
///   `pmap_reused` collects a batch of inputs first.
///
/// Both isolate failures: a task that panics or crashes is an `Err` at its
/// own index, and with `pmap_reused` a new process takes the place of the
/// one that failed. `pmap` keeps a process per task by default, as
/// `pprocess::pmap` does: the isolation a task gets never depends on how
/// it was called, and a slower call is visible where a leak carried from
/// task to task would not be.
///
/// ```
/// #[pprocess::parallel]
/// fn add(i: u64, j: u64) -> u64 {
///     i + j
/// }
///
/// fn main() -> pprocess::Result<()> {
///     let inputs: Vec<(u64, u64)> = (0..10_000).map(|n| (n, n)).collect();
///     let sums: Vec<u64> = add::pmap_reused(inputs).collect::<pprocess::Result<_>>()?;
///     assert_eq!(sums[9_999], 19_998);
///     Ok(())
/// }
/// ```
///
/// With the `mpi` feature of `pprocess`, a function without generic
/// parameters whose arguments are owned is also registered by its path,
/// and the module gets `calculate::pmap_on(&cluster, inputs)` and
/// `calculate::pqueue_on(&cluster, inputs)`: the same map over the ranks
/// of an MPI job (see `pprocess::mpi`).
///
/// The wrapper and the helpers take the arguments of one call as one value:
/// a tuple `(i, j)` for a function of several arguments, the argument
/// itself for a function of one, `()` for a function of none. Arguments
/// are not serialized (the created process is a fork that already has
/// them), so they may borrow: a `fn count(text: &str) -> usize` gets a
/// `count::pmap` over `&str` inputs.
///
/// The module's functions are one visibility level wider than the function,
/// seen from inside the module, so that they reach exactly as far as it
/// does: for a private function they are `pub(super)`, for `pub(crate)`
/// and `pub` the same, for `pub(super)` they are `pub(in super::super)`.
/// Generic parameters, `where` clauses, `const fn`, and pattern arguments
/// such as `(i, j): (u32, u32)` are supported: the wrappers have the
/// function's generic parameters, and pass the arguments through in
/// order.
///
/// The generated module imports its parent's names (`use super::*`), so
/// the types of the signature resolve as they do for the function. So the
/// attribute goes on functions at module level (in any module, a nested
/// one or one in a file of its own). An attribute is not told where its
/// function stands, so it reads the function's source file to find out;
/// two places are then one error each, at the function's name:
///
/// - A function declared inside another function's body (inside `main`,
///   say), where the module cannot see it: ``#[parallel] goes on functions
///   at module level: the module it generates cannot see a function
///   declared in `main`'s body; move `calculate` out of `main`, to module
///   level``.
/// - An associated function in an `impl` block (or a `trait`), where a
///   module cannot go: the error says to move the function out of the
///   block, or to wrap a closure that calls it, and writes the closure:
///   `MakeParallel::new(|(i, j): (u32, u32)| Grid::cell(i, j))`.
///
/// Where the file cannot tell (a function written by a macro, two
/// functions of the same name and signature in different places, a
/// compiler older than 1.88), the attribute expands as usual, and rustc's
/// own error says less: ``cannot find function `calculate` in module
/// `super` `` for the first, ``module is not supported in `trait`s or
/// `impl`s`` for the second.
///
/// # Requirements and errors
///
/// The return type is sent over the channel and received as the same type,
/// so it must implement serde's `Serialize` and `Deserialize`; if it does
/// not, the error points at the return type. A function returning
/// `Result<T, E>` sends the whole `Result`: a `Map` yields
/// `Ok(Err(e))` for the task's own error and `Err(pprocess::Error)` for a
/// failure of its process.
///
/// The attribute is a compile error, pointing at the offending token, on:
/// anything but a free function with a body; a method (`self`); an `async
/// fn`; an `unsafe fn` (the wrappers would call it without `unsafe`); an
/// `impl Trait` argument (use a type parameter) or return type (name the
/// type); `Self` in the signature; and any argument, such as
/// `#[parallel(limit = 4)]` (it takes none).
///
/// A closure needs no attribute: `pprocess::MakeParallel::new(|(i, j): (u32,
/// u32)| i * j)`.
#[proc_macro_attribute]
pub fn parallel(args: TokenStream, item: TokenStream) -> TokenStream {
    entry(Kind::Parallel, args.into(), item.into()).into()
}

/// Like [`parallel`](macro@parallel), and also makes the function able to
/// serve reused processes: generates `calculate::reusable()`, its
/// `pprocess::MakeReusable` wrapper.
///
/// ```
/// use pprocess::Map;
///
/// #[pprocess::reusable]
/// fn square(n: u64) -> (u64, u32) {
///     (n * n, std::process::id())
/// }
///
/// fn main() -> pprocess::Result<()> {
///     // Two processes answer all ten calls: each receives the next
///     // arguments over its channel when it has sent a result.
///     let mut map = Map::new().limit(2).reuse(true);
///     let mut call = map.manage(square::reusable());
///     for n in 0..10 {
///         call.call(n);
///     }
///     let results: Vec<(u64, u32)> = map.collect::<pprocess::Result<_>>()?;
///     assert_eq!(results[9].0, 81);
///     let mut pids: Vec<u32> = results.iter().map(|result| result.1).collect();
///     pids.sort();
///     pids.dedup();
///     assert!(pids.len() <= 2);
///     Ok(())
/// }
/// ```
///
/// # What it generates
///
/// Everything [`parallel`](macro@parallel) generates (`square::parallel()`,
/// `square::pmap(inputs)`, `square::pmap_limit(inputs, limit)`, with the
/// same visibility), plus:
///
/// - `square::reusable()` returns the function wrapped in a
///   `pprocess::MakeReusable`. On an `Exchange`, `Map` or `Queue` made with
///   `reuse(true)`, the arguments of each call are serialized and sent to a
///   process that has finished its previous call, instead of forking a new
///   one; elsewhere it behaves like `parallel()`.
///
/// The pmap helpers are those of `#[parallel]`: `pmap_reused` needs no
/// `#[reusable]`, since its processes take the inputs from memory shared
/// with the creator. `reusable()` is for calls made one by one, managed on
/// a map with `reuse(true)` as above: their arguments are sent to the
/// processes.
///
/// # Requirements and errors
///
/// Those of [`parallel`](macro@parallel), and: the arguments are received
/// over the channel, so they must be owned and implement `Serialize` and
/// `Deserialize`. A borrowed argument (`&str`, `&[T]`, a type with a
/// lifetime other than `'static`) is a compile error at that argument that
/// names the owned type to take instead (`String`, `Vec<T>`); an argument
/// type that does not deserialize is an error at that type.
#[proc_macro_attribute]
pub fn reusable(args: TokenStream, item: TokenStream) -> TokenStream {
    entry(Kind::Reusable, args.into(), item.into()).into()
}

/// Parse, validate, expand; on any error, the fallback.
fn entry(
    kind: Kind,
    args: proc_macro2::TokenStream,
    input: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    let item: Item = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(error) => return fallback::expand(input, None, kind, error),
    };
    let args = attr::parse(kind, args);
    let function = match Function::from_item(&item) {
        Ok(function) => function,
        Err(item) => {
            let mut error = valid::not_a_function(item, kind);
            if let Err(args_error) = args {
                error.combine(args_error);
            }
            return fallback::expand(input, None, kind, error);
        }
    };
    let place = place::of(function.item);
    let checked = match (args, valid::check(&function, kind, place.as_ref())) {
        (Ok(attr::Args), Ok(())) => Ok(()),
        (Err(error), Ok(())) | (Ok(attr::Args), Err(error)) => Err(error),
        (Err(mut error), Err(more)) => {
            error.combine(more);
            Err(error)
        }
    };
    match checked {
        Ok(()) => {
            let module = expand::module(&function, kind, Bodies::Real);
            quote!(#input #module)
        }
        Err(error) => {
            let stub = place.is_none_or(|place| place.holds_modules());
            fallback::expand(input, Some(&function).filter(|_| stub), kind, error)
        }
    }
}
