//! Persistent and background processes: created processes that outlive
//! their creator and are reached at an address, a Unix socket path, by the
//! same program or a later run of it.
//!
//! - [`PersistentChannel`] listens at an address and keeps what it sent
//!   until a peer made by [`connect`] acknowledges it;
//! - [`BackgroundCallable`] runs a callable in such a process;
//! - [`PersistentExchange`], [`PersistentQueue`] and [`BackgroundQueue`]
//!   start them and collect what they send.
//!
//! Every name here is also at the crate root, where the original module
//! had them.

pub(crate) mod address;
mod background;
pub(crate) mod channel;
mod exchange;
mod queue;

pub use background::BackgroundCallable;
pub use channel::{PersistentChannel, connect, connect_timeout};
pub use exchange::{PersistentExchange, PersistentManaged};
pub use queue::{BackgroundQueue, PersistentQueue};
