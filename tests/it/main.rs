//! The integration tests, in one test binary (one link instead of one per
//! file): each module is the tests of one concern, named after it. The
//! tests that re-run their own binary, or install process-wide hooks, stay
//! in binaries of their own (`tests/output.rs`, `tests/panic_hook.rs`,
//! `tests/thread_warning.rs`), as do the attributes' own tests
//! (`pprocess-macros/tests/`: the supported forms and the compile-fail cases).

#[path = "../allocation/mod.rs"]
mod allocation;
#[path = "../hardening/mod.rs"]
mod hardening;
#[path = "../support/mod.rs"]
mod support;

mod bad_input;
mod bottles;
mod bulk;
mod codec_props;
mod examples;
mod fault_matrix;
mod faults;
mod indexer;
mod load;
mod macros;
mod map_queue;
mod oversized_result;
mod persistent;
mod persistent_limits;
mod progress;
mod queue_task_errors;
mod raytracer;
mod reused_pmap;
mod scheduler_faults;
mod shared_memory;
mod shared_regions;
mod signals;
mod timeouts;
