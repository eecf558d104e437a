//! Created processes: [`fork`] is the one place that forks (the locks held
//! across it, the child's set-up before any user code runs), [`reap`] the
//! table of created processes not yet reaped, [`panic_report`] what a
//! created process prints when it panics. Channels are the layer above.

pub(crate) mod fork;
pub(crate) mod panic_report;
pub(crate) mod reap;
pub(crate) mod threads;
