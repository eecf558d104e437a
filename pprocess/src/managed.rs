//! Managed callables: a function bound to an exchange, so that calling it
//! starts a task on that exchange.

use std::fmt;
use std::process::{ExitCode, Termination};
use std::rc::Rc;

use crate::channel::Channel;
use crate::error::Result;
use crate::exchange::Exchange;

/// Something that runs in a created process with its channel and the
/// arguments of one call: the callables of the original module, called as
/// `callable(channel, *args)`.
///
/// Closures and functions `Fn(&mut Channel, A) -> R` are callables, with
/// `R` any [`Termination`] (`()`, `Result<(), E>`, ...).
///
/// ```
/// use pprocess::{Callable, Channel};
///
/// fn double(channel: &mut Channel, n: u32) -> pprocess::Result<()> {
///     channel.send(&(n * 2))
/// }
///
/// fn assert_callable<C: Callable<u32>>(_: &C) {}
/// assert_callable(&double);
/// ```
pub trait Callable<A> {
    /// Runs one call in the created process; the exit code ends it.
    fn call(&self, channel: &mut Channel, args: A) -> ExitCode;
}

impl<F, A, R> Callable<A> for F
where
    F: Fn(&mut Channel, A) -> R,
    R: Termination,
{
    fn call(&self, channel: &mut Channel, args: A) -> ExitCode {
        self(channel, args).report()
    }
}

/// A callable bound to an exchange, from [`Exchange::manage`]: each
/// [`call`](Managed::call) starts it on the exchange as a new task.
///
/// ```
/// use pprocess::{Channel, Exchange};
///
/// let mut got = Vec::new();
/// let mut exchange = Exchange::with_handler(|channel: &mut Channel, _task: usize| {
///     got.push(channel.receive::<String>()?);
///     Ok(())
/// });
/// let mut greet = exchange.manage(|channel: &mut Channel, name: &str| {
///     channel.send(&format!("hello, {name}"))
/// });
/// greet.call("world")?;
/// exchange.finish()?;
/// drop(exchange);
/// assert_eq!(got, ["hello, world"]);
/// # Ok::<(), pprocess::Error>(())
/// ```
pub struct Managed<'x, 'env, H, C> {
    exchange: &'x mut Exchange<'env, H>,
    callable: Rc<C>,
}

impl<'x, 'env, H, C> Managed<'x, 'env, H, C> {
    pub(crate) fn new(exchange: &'x mut Exchange<'env, H>, callable: C) -> Self {
        Managed {
            exchange,
            callable: Rc::new(callable),
        }
    }

    /// Starts the callable with `args` as a new task on the exchange (queued
    /// beyond its limit) and returns the task number.
    pub fn call<A>(&mut self, args: A) -> Result<usize>
    where
        C: Callable<A> + 'env,
        A: 'env,
    {
        self.exchange.start_callable(&self.callable, args)
    }
}

impl<H, C> fmt::Debug for Managed<'_, '_, H, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Managed").finish_non_exhaustive()
    }
}
