//! The MPI backend (`pprocess::mpi`, feature `mpi`), driven through
//! `mpirun` on the example programs `mpi_tasks`, `simple_pmap_mpi` and
//! `scene_mpi`: this harness never runs under `mpirun` itself. Every run
//! has a deadline (the job is killed and the test fails past it), keeps
//! its traffic on loopback, and runs alone (the runs share two cores).
//!
//! Needs Open MPI's `mpirun` on the `PATH`: built only with
//! `cargo test --features mpi`, and failing (not skipping) without it.

use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use support::{Scratch, example_path, output_within};

mod support;

/// How long one job may run before it counts as hung.
const DEADLINE: Duration = Duration::from_secs(60);

/// One job at a time.
static ALONE: Mutex<()> = Mutex::new(());

fn alone() -> MutexGuard<'static, ()> {
    ALONE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The byte transport layers of a one-machine job.
const SHARED_MEMORY: &str = "self,vader";
const TCP: &str = "self,tcp";

/// `mpirun` for `ranks` ranks over `btl`, on loopback only; `program`
/// follows (the example's path and its arguments, or several of them
/// separated by `:`).
fn mpirun(btl: &str, program: &[&str]) -> Command {
    let mut command = Command::new("mpirun");
    command
        .args([
            "--allow-run-as-root",
            "--oversubscribe",
            "--mca",
            "btl",
            btl,
        ])
        .args(program)
        .env("OMPI_MCA_btl_tcp_if_include", "lo")
        .env("OMPI_MCA_oob_tcp_if_include", "lo")
        // No backtrace from Open MPI's handler when a task aborts.
        .env("OMPI_MCA_opal_signal", "")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs `command` within the deadline; returns its output.
fn run(mut command: Command, what: &str) -> Output {
    let child = command
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {what} (is Open MPI installed?): {error}"));
    output_within(child, DEADLINE, what)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `mpi_tasks` with `args` on `ranks` ranks over `btl`; checks that
/// the job succeeded and returns its standard output.
fn tasks(ranks: usize, btl: &str, args: &[&str]) -> String {
    let path = example_path("mpi_tasks");
    let ranks = ranks.to_string();
    let program = [&["-np", &ranks, path.to_str().unwrap()], args].concat();
    let what = format!("mpirun -np {ranks} mpi_tasks {}", args.join(" "));
    let output = run(mpirun(btl, &program), &what);
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        text(&output.stderr)
    );
    stdout
}

#[test]
fn maps_keep_input_order_at_two_three_and_four_ranks_over_shared_memory_and_tcp() {
    let _alone = alone();
    for btl in [SHARED_MEMORY, TCP] {
        for ranks in [2, 3, 4] {
            let stdout = tasks(ranks, btl, &["order", "500"]);
            // Every result at its index, computed by one reused process on
            // each worker rank.
            assert_eq!(
                stdout,
                format!("ok 500 on {}\n", ranks - 1),
                "{ranks} ranks, {btl}"
            );
        }
    }
}

#[test]
fn a_queue_over_the_ranks_gives_every_result_once() {
    let _alone = alone();
    assert_eq!(
        tasks(3, SHARED_MEMORY, &["queue", "2000"]),
        "ok 2000 on 2\n"
    );
}

#[test]
fn a_new_map_after_trivial_tasks_starts_one_task_at_a_time_on_every_worker() {
    let _alone = alone();
    // The pace of 5000 trivial tasks would send the next map's 20 tasks
    // to the first worker in one batch; a new map's tasks start alone,
    // so both workers compute some.
    assert_eq!(tasks(3, SHARED_MEMORY, &["again", "20"]), "ok 20 on 2\n");
}

#[test]
fn a_panic_an_abort_a_sigkill_and_a_timeout_are_each_an_error_at_its_index_and_the_job_ends_with_0()
{
    let _alone = alone();
    for btl in [SHARED_MEMORY, TCP] {
        let stdout = tasks(3, btl, &["faults"]);
        assert_eq!(
            stdout,
            "0: ok 1\n\
             1: panicked: task asked to panic\n\
             2: ok 4\n\
             3: died: SIGABRT\n\
             4: ok 9\n\
             5: died: SIGKILL\n\
             6: ok 16\n\
             7: timeout\n\
             8: ok 25\n\
             faults done\n",
            "{btl}"
        );
    }
}

#[test]
fn failures_inside_a_batch_land_at_their_own_index_and_the_tasks_after_them_run_on_a_new_process() {
    let _alone = alone();
    let stdout = tasks(2, SHARED_MEMORY, &["batch-faults"]);
    // Every other task's square is right; each failure ended a process,
    // and the tasks after it in its batch ran on the next one.
    assert_eq!(
        stdout,
        "100: panicked: task asked to panic\n\
         101: died: SIGKILL\n\
         200: died: SIGABRT\n\
         250: timeout\n\
         right 296 of 296 from 4 processes\n"
    );
}

#[test]
fn slow_tasks_in_one_batch_each_get_the_whole_timeout() {
    let _alone = alone();
    // 4000 trivial tasks make the batches large; the last 16 sleep
    // 100 ms each, 1.6 s together in the batch that holds them, under a
    // timeout of 1 s: the clock restarts as answers come.
    assert_eq!(tasks(2, SHARED_MEMORY, &["slow-batch"]), "ok 4016 on 1\n");
}

#[test]
fn a_task_hung_in_an_abandoned_map_does_not_hold_up_the_next_map_with_another_timeout() {
    let _alone = alone();
    assert_eq!(
        tasks(2, SHARED_MEMORY, &["abandon", "50"]),
        "first Some(Ok(1))\nok 50 on 1\n"
    );
}

#[test]
fn a_worker_rank_that_dies_ends_the_job_with_a_non_zero_exit_and_no_hang() {
    let _alone = alone();
    let path = example_path("mpi_tasks");
    let program = ["-np", "3", path.to_str().unwrap(), "kill-rank"];
    let output = run(mpirun(SHARED_MEMORY, &program), "mpi_tasks kill-rank");
    assert!(
        !output.status.success(),
        "the job succeeded: {:?}",
        output.status
    );
    assert!(!text(&output.stdout).contains("survived"));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("rank 1") && stderr.contains("signal 9"),
        "mpirun names the rank and its signal:\n{stderr}"
    );
}

#[test]
fn a_rank_silent_past_the_timeout_fails_its_tasks_and_the_job_is_aborted() {
    let _alone = alone();
    let path = example_path("mpi_tasks");
    let program = ["-np", "3", path.to_str().unwrap(), "stop-rank"];
    let output = run(mpirun(SHARED_MEMORY, &program), "mpi_tasks stop-rank");
    let stdout = text(&output.stdout);
    // The task that stopped its rank never answered: it fails as silent,
    // and so do the two sent with it (a worker rank is sent three tasks
    // at first). The map still ends: the last task, never sent, fails
    // too, as no rank is left (the job used one worker rank).
    assert!(
        stdout.starts_with("0: rank 1 silent\n1: rank 1 silent\n2: rank 1 silent\n3: other: "),
        "{stdout}"
    );
    assert_eq!(output.status.code(), Some(70), "{}", text(&output.stderr));
}

#[test]
fn ranks_of_different_builds_are_refused_at_start_up() {
    let _alone = alone();
    let tasks = example_path("mpi_tasks");
    let grid = example_path("simple_pmap_mpi");
    let program = [
        "-np",
        "1",
        tasks.to_str().unwrap(),
        "order",
        "10",
        ":",
        "-np",
        "1",
        grid.to_str().unwrap(),
    ];
    let output = run(
        mpirun(SHARED_MEMORY, &program),
        "mpi_tasks : simple_pmap_mpi",
    );
    assert!(!output.status.success());
    assert_eq!(text(&output.stdout), "");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("mpi_tasks: MPI rank 1 runs a different build of this program than rank 0"),
        "{stderr}"
    );
}

#[test]
fn run_directly_or_as_one_rank_the_program_uses_the_fork_backend() {
    let _alone = alone();
    let mut direct = Command::new(example_path("mpi_tasks"));
    direct
        .args(["order", "50"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let output = run(direct, "mpi_tasks order 50");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.starts_with("local\nok 50 on "), "{stdout}");
    let stdout = tasks(1, SHARED_MEMORY, &["order", "50"]);
    assert!(stdout.starts_with("local\nok 50 on "), "{stdout}");
}

#[test]
fn worker_ranks_reap_every_process_and_keep_their_descriptors_after_failures() {
    let _alone = alone();
    let before = job_processes();
    let stdout = tasks(2, SHARED_MEMORY, &["hygiene"]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "failed 4");
    let fields: Vec<&str> = lines[1].split(' ').collect();
    assert_eq!(&fields[..3], ["children", "1", "1"], "{stdout}");
    assert_eq!(fields[3], "descriptors");
    assert_eq!(
        fields[4], fields[5],
        "the worker rank's descriptors: {stdout}"
    );
    // Once the job has ended, no process of it is left (those of earlier
    // jobs, whose ranks were killed on purpose, may still await init).
    let left: Vec<u32> = job_processes()
        .into_iter()
        .filter(|pid| !before.contains(pid))
        .collect();
    assert!(left.is_empty(), "processes left: {left:?}");
}

/// The ids of the processes of `mpi_tasks` on this machine.
fn job_processes() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter(|entry| {
            std::fs::read_to_string(entry.path().join("comm"))
                .is_ok_and(|comm| comm.trim() == "mpi_tasks")
        })
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect()
}

#[test]
fn the_grid_example_prints_the_grid_from_the_worker_ranks() {
    let _alone = alone();
    let path = example_path("simple_pmap_mpi");
    let program = ["-np", "3", path.to_str().unwrap()];
    let mut command = mpirun(SHARED_MEMORY, &program);
    command.env("PPROCESS_DELAY", "0");
    let output = run(command, "simple_pmap_mpi");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 11, "{stdout}");
    for (i, line) in lines[..10].iter().enumerate() {
        let row: Vec<String> = (0..10).map(|j| (i * 10 + j).to_string()).collect();
        assert_eq!(*line, row.join(" "));
    }
    assert!(lines[10].starts_with("Time taken: "));
}

#[test]
fn scene_mpi_on_three_ranks_writes_the_same_tiff_as_scene_byte_for_byte() {
    let _alone = alone();
    let dir = Scratch::new();
    let size = ["--width", "80", "--height", "48", "--samples", "2"];
    let mut scene = Command::new(example_path("scene"));
    scene
        .args(size)
        .args(["--output", "scene.tif"])
        .current_dir(&dir.path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let output = run(scene, "scene");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let path = example_path("scene_mpi");
    let program = [
        &["-np", "3", path.to_str().unwrap()][..],
        &size,
        &["--output", "mpi.tif"],
    ]
    .concat();
    let mut command = mpirun(SHARED_MEMORY, &program);
    command.current_dir(&dir.path);
    let output = run(command, "scene_mpi");
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("Wrote mpi.tif"));
    let scene = std::fs::read(dir.join("scene.tif")).expect("scene.tif");
    let mpi = std::fs::read(dir.join("mpi.tif")).expect("mpi.tif");
    assert!(!scene.is_empty());
    assert!(scene == mpi, "scene_mpi's image differs from scene's");
}
