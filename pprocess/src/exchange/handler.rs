//! [`Handler`]: what stores the messages and failures of an exchange's
//! tasks.

use crate::channel::Channel;
use crate::error::{Error, Result};

/// Stores what the processes of an [`Exchange`](crate::Exchange) send: the `store_data` of
/// the original module's convenient exchanges.
///
/// [`Exchange::store`](crate::Exchange::store) (and `wait`, `finish`) call `store_data` once per
/// message that arrives, and `store_error` once per task that failed.
/// `task` is the task's number: tasks are numbered from 0 in the order they
/// were given to the exchange (`start`, `add`, `create`, managed calls).
///
/// A closure `FnMut(&mut Channel, usize) -> Result<()>` is a handler too.
///
/// ```
/// use pprocess::{Channel, Exchange, Handler};
///
/// struct Squares(Vec<u64>);
///
/// impl Handler for Squares {
///     fn store_data(&mut self, channel: &mut Channel, _task: usize) -> pprocess::Result<()> {
///         self.0.push(channel.receive()?);
///         Ok(())
///     }
/// }
///
/// let mut exchange = Exchange::with_handler(Squares(Vec::new())).limit(2);
/// for i in 0..5u64 {
///     exchange.start(move |channel| channel.send(&(i * i)));
/// }
/// exchange.finish()?;
/// let mut squares = exchange.into_handler().0;
/// squares.sort();
/// assert_eq!(squares, [0, 1, 4, 9, 16]);
/// # Ok::<(), pprocess::Error>(())
/// ```
pub trait Handler {
    /// A message from task `task` is waiting on `channel`: receive it (once).
    fn store_data(&mut self, channel: &mut Channel, task: usize) -> Result<()>;

    /// Task `task` failed: its process panicked, died, ended without
    /// sending, sent garbage, or could not be started. By default the error
    /// is returned from [`Exchange::store`](crate::Exchange::store); the exchange stays usable.
    fn store_error(&mut self, task: usize, error: Error) -> Result<()> {
        let _ = task;
        Err(error)
    }
}

impl<F> Handler for F
where
    F: FnMut(&mut Channel, usize) -> Result<()>,
{
    fn store_data(&mut self, channel: &mut Channel, task: usize) -> Result<()> {
        self(channel, task)
    }
}
