//! The wire: how a message is laid out on a socket. [`frame`] is the
//! 9-byte header and the inbox that collects bytes until a frame is whole;
//! [`codec`] is every encode and decode call. Nothing here knows about
//! processes or channels.

pub(crate) mod codec;
pub(crate) mod frame;
pub(crate) mod stream;
