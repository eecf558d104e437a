//! [`get_number_of_cores`]: how many processes are worth running at once.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

/// The number of distinct physical cores this process may run on.
///
/// Reads `/proc/cpuinfo` and counts distinct (physical package, core)
/// pairs, so hyperthreads of one core count once; never more than the CPUs
/// this process is allowed to use (affinity, cgroup quota). Falls back to
/// [`std::thread::available_parallelism`] where `/proc/cpuinfo` says nothing
/// about cores, and is never less than 1. The file is read once per
/// process (the hardware does not change); the CPUs allowed are asked each
/// time.
///
/// ```
/// assert!(pprocess::get_number_of_cores() >= 1);
/// ```
pub fn get_number_of_cores() -> usize {
    let allowed = thread::available_parallelism().map_or(1, |n| n.get());
    physical_cores()
        .map_or(allowed, |physical| physical.min(allowed))
        .max(1)
}

/// The number of physical cores `/proc/cpuinfo` lists, read once. Kept in
/// an atomic, not a lock: a created process forked while another thread
/// reads the file must not wait for that thread, which it does not have.
fn physical_cores() -> Option<usize> {
    // 0: not read yet; 1: the file says nothing about cores; n + 2: n cores.
    static PHYSICAL: AtomicUsize = AtomicUsize::new(0);
    let known = PHYSICAL.load(Ordering::Relaxed);
    if known != 0 {
        return known.checked_sub(2);
    }
    let physical = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| count_physical_cores(&text));
    PHYSICAL.store(physical.map_or(1, |cores| cores + 2), Ordering::Relaxed);
    physical
}

/// Counts distinct ("physical id", "core id") pairs; `None` if there are
/// none.
fn count_physical_cores(cpuinfo: &str) -> Option<usize> {
    let mut cores = BTreeSet::new();
    for processor in cpuinfo.split("\n\n") {
        let field = |name: &str| {
            processor.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == name).then(|| value.trim().to_owned())
            })
        };
        if let Some(core) = field("core id") {
            cores.insert((field("physical id").unwrap_or_default(), core));
        }
    }
    (!cores.is_empty()).then_some(cores.len())
}

#[cfg(test)]
mod tests {
    use super::count_physical_cores;

    #[test]
    fn hyperthreads_of_one_core_count_once() {
        let cpuinfo = "processor\t: 0\nphysical id\t: 0\ncore id\t: 0\n\n\
                       processor\t: 1\nphysical id\t: 0\ncore id\t: 0\n\n\
                       processor\t: 2\nphysical id\t: 0\ncore id\t: 1\n\n\
                       processor\t: 3\nphysical id\t: 1\ncore id\t: 0\n";
        assert_eq!(count_physical_cores(cpuinfo), Some(3));
    }

    #[test]
    fn no_core_ids_means_unknown() {
        assert_eq!(count_physical_cores("processor\t: 0\n"), None);
    }
}
