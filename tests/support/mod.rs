//! Helpers shared by the integration tests that run the example programs.
//!
//! `cargo test` builds the examples into `target/<profile>/examples/`
//! before it runs the integration tests; the tests find them next to their
//! own binary (`target/<profile>/deps/`). `cargo test --test NAME` alone
//! does not build them: a missing binary, or one older than its sources,
//! fails with a message saying so, rather than testing an old build.

// Each test binary that declares this module uses only some of it.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// The command that builds the example binaries.
const BUILD_HINT: &str = "run `cargo test` (which builds the examples; \
    `cargo test --test NAME` alone does not) or `cargo build --examples`";

/// The path of the example binary `name`, checked to exist and to be newer
/// than its sources: the example, the examples' shared library and the
/// runtime crate.
pub fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in target/<profile>/deps")
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let built = std::fs::metadata(&path)
        .and_then(|metadata| metadata.modified())
        .unwrap_or_else(|error| {
            panic!(
                "example binary {} is missing ({error}): {BUILD_HINT}",
                path.display()
            )
        });
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = vec![root.join("examples").join(format!("{name}.rs"))];
    collect_files(&root.join("src"), &mut sources);
    collect_files(&root.join("pprocess/src"), &mut sources);
    for source in sources {
        let changed = std::fs::metadata(&source).and_then(|metadata| metadata.modified());
        assert!(
            changed.is_ok_and(|changed| changed <= built),
            "example binary {} is older than {}: {BUILD_HINT}",
            path.display(),
            source.display()
        );
    }
    path
}

/// Adds every file below `dir` to `files`.
fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("listing the sources") {
        let path = entry.expect("listing the sources").path();
        if path.is_dir() {
            collect_files(&path, files);
        } else {
            files.push(path);
        }
    }
}

/// Waits for `child` to end and collects its standard output and error
/// (read while it runs, so a chatty program never blocks on a full pipe).
/// A thread waits on the child's end; after `limit` the child is killed
/// and the test fails, naming `what`.
pub fn output_within(child: Child, limit: Duration, what: &str) -> Output {
    let pid = child.id() as i32;
    let (done, ended) = mpsc::channel();
    thread::spawn(move || done.send(child.wait_with_output()));
    match ended.recv_timeout(limit) {
        Ok(output) => output.expect("waiting for the program"),
        Err(_) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            panic!("{what} did not end within {limit:?}");
        }
    }
}

/// A new empty directory for one test's files, removed (with what is in
/// it) when dropped.
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    pub fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "pprocess-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir(&path).expect("making a scratch directory");
        Scratch { path }
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The names in the directory, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.path)
            .expect("listing the scratch directory")
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// A new empty file in the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        let path = self.path.join(name);
        fs::write(&path, "").expect("making a followed file");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}
