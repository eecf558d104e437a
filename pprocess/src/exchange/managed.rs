//! Managed callables: a callable bound to an exchange, so that calling it
//! starts a task on that exchange.

use std::fmt;
use std::rc::Rc;

use crate::channel::Channel;
use crate::exchange::Exchange;
use crate::exchange::callable::Callable;
use crate::exchange::work::Worker;

/// A callable bound to an exchange, from [`Exchange::manage`] (or the
/// `manage` of a [`Map`](crate::Map) or [`Queue`](crate::Queue)): each
/// [`call`](Managed::call) starts it as a new task.
///
/// On an exchange with [`reuse`](Exchange::reuse), the calls of a reusable
/// callable ([`MakeReusable`](crate::MakeReusable)) are sent to processes
/// that finished their previous call; other calls fork a new process each.
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
/// greet.call("world");
/// exchange.finish()?;
/// drop(exchange);
/// assert_eq!(got, ["hello, world"]);
/// # Ok::<(), pprocess::Error>(())
/// ```
pub struct Managed<'x, 'env, H, C> {
    exchange: &'x mut Exchange<'env, H>,
    callable: Rc<C>,
    /// The loop reused processes of this callable run, made on first use.
    worker: Option<Worker<'env>>,
}

impl<'x, 'env, H, C> Managed<'x, 'env, H, C> {
    pub(crate) fn new(exchange: &'x mut Exchange<'env, H>, callable: C) -> Self {
        Managed {
            exchange,
            callable: Rc::new(callable),
            worker: None,
        }
    }

    /// Starts the callable with `args` as a new task on the exchange (queued
    /// beyond its limit) and returns the task number. A failure to start it
    /// is a failure of that task (see [`Exchange::start`]).
    ///
    /// ```
    /// use pprocess::{MakeParallel, Queue};
    ///
    /// let mut queue = Queue::new().limit(1);
    /// let mut double = queue.manage(MakeParallel::new(|n: u32| n * 2));
    /// assert_eq!(double.call(1), 0); // task numbers, in order
    /// assert_eq!(double.call(2), 1);
    /// assert_eq!(queue.collect::<pprocess::Result<Vec<u32>>>()?, [2, 4]);
    /// # Ok::<(), pprocess::Error>(())
    /// ```
    pub fn call<A>(&mut self, args: A) -> usize
    where
        C: Callable<A> + 'env,
        A: 'env,
    {
        if self.exchange.reuses() {
            if let Some(encoded) = self.callable.encode_for_reuse(&args) {
                return match encoded {
                    Ok(payload) => {
                        let worker = self.worker.get_or_insert_with(|| {
                            let callable = Rc::clone(&self.callable);
                            Rc::new(move |channel: &mut Channel| callable.serve(channel))
                        });
                        let worker = Rc::clone(worker);
                        self.exchange.start_message(payload, worker)
                    }
                    Err(error) => self.exchange.start_failed(error),
                };
            }
        }
        let callable = Rc::clone(&self.callable);
        self.exchange
            .start(move |channel| callable.call(channel, args))
    }
}

impl<H, C> fmt::Debug for Managed<'_, '_, H, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Managed").finish_non_exhaustive()
    }
}
