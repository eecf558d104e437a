//! The collections: [`Map`](map::Map) (results in input order) and
//! [`Queue`](queue::Queue) (results in arrival order), and `pmap`.

pub(crate) mod backend;
pub(crate) mod batches;
pub(crate) mod exact;
pub(crate) mod fork;
pub(crate) mod map;
pub(crate) mod per_process;
pub(crate) mod queue;
