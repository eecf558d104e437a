//! The raytracer examples: all four variants (`scene`, `scene_pmap`,
//! `scene_queue`, `scene_reuse`) under limits 1 and 2 write the
//! byte-identical image, the one the library renders sequentially; and the
//! TIFF file `scene` writes opens with the `tiff` decoder, has the asked
//! size and shows the scene (a black sky, green spheres).
//!
//! `cargo test` builds the examples into `target/<profile>/examples/`
//! before it runs the integration tests; this test finds them next to its
//! own binary (`target/<profile>/deps/`).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use pprocess_examples::raytracer::Frame;
use tiff::ColorType;
use tiff::decoder::{Decoder, DecodingResult};

use support::{example_path, output_within};

use crate::support;

/// How long one example run may take before it counts as hung.
const TIMEOUT: Duration = Duration::from_secs(120);

const VARIANTS: [&str; 4] = ["scene", "scene_pmap", "scene_queue", "scene_reuse"];

/// A fresh directory under the system's temporary directory, removed when
/// dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("pprocess-raytracer-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("creating a temporary directory");
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs example `name` with `args` in `dir`, checks that it succeeds, and
/// returns its standard output.
fn run(name: &str, args: &[&str], dir: &Path) -> String {
    let what = format!("`{name} {}`", args.join(" "));
    let child = Command::new(example_path(name))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {what}: {error}"));
    let output = output_within(child, TIMEOUT, &what);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Opens a TIFF file with the `tiff` decoder: its size and its 8-bit RGB
/// pixels.
fn read_tiff(path: &Path) -> (u32, u32, Vec<u8>) {
    let file = File::open(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let mut decoder = Decoder::new(BufReader::new(file)).expect("a TIFF file");
    assert_eq!(
        decoder.colortype().expect("a colour type"),
        ColorType::RGB(8)
    );
    let (width, height) = decoder.dimensions().expect("dimensions");
    let DecodingResult::U8(pixels) = decoder.read_image().expect("the image") else {
        panic!("{} does not hold 8-bit samples", path.display());
    };
    (width, height, pixels)
}

#[test]
fn every_variant_under_limits_one_and_two_writes_the_sequential_image() {
    let dir = TempDir::new("variants");
    let expected = Frame::new(60, 40, 2).render();
    for name in VARIANTS {
        for limit in ["1", "2"] {
            let output = format!("{name}-{limit}.tif");
            let args = [limit, "--width", "60", "--height", "40", "--samples", "2"];
            run(
                name,
                &[&args[..], &["--output", &output]].concat(),
                dir.path(),
            );
            let (width, height, pixels) = read_tiff(&dir.path().join(&output));
            assert_eq!((width, height), (60, 40), "{output}");
            assert!(
                pixels == expected,
                "{name} at limit {limit} wrote an image that differs from the sequential one"
            );
        }
    }
}

#[test]
fn scene_writes_a_tiff_of_the_asked_size_showing_the_scene() {
    let dir = TempDir::new("picture");
    let path = dir.path().join("picture.tif");
    let args = ["2", "--width", "120", "--height", "80", "--samples", "2"];
    run(
        "scene",
        &[
            &args[..],
            &["--output", path.to_str().expect("a UTF-8 path")],
        ]
        .concat(),
        dir.path(),
    );
    let (width, height, pixels) = read_tiff(&path);
    assert_eq!((width, height), (120, 80));
    assert_eq!(pixels.len(), 120 * 80 * 3);

    assert!(
        pixels.iter().any(|&byte| byte != 0),
        "the image is all black"
    );
    let top_row = &pixels[..120 * 3];
    assert!(
        top_row.iter().all(|&byte| byte == 0),
        "the sky is not black"
    );
    let greenish = pixels
        .chunks(3)
        .filter(|rgb| rgb[1] > 60 && rgb[1] > rgb[0] && rgb[1] > rgb[2])
        .count();
    assert!(
        greenish > 120 * 80 / 10,
        "only {greenish} of {} pixels are green",
        120 * 80
    );
}

#[test]
fn scene_compare_writes_test_tif_and_prints_time_limit_and_speedup() {
    let dir = TempDir::new("compare");
    let stdout = run(
        "scene",
        &[
            "1",
            "--width",
            "40",
            "--height",
            "30",
            "--samples",
            "1",
            "--compare",
        ],
        dir.path(),
    );
    for expected in [
        "Time taken: ",
        "Process limit: 1",
        "Sequential time (one process): ",
        "Speedup: ",
        "(the images are identical)",
        "Wrote test.tif",
    ] {
        assert!(stdout.contains(expected), "no {expected:?} in:\n{stdout}");
    }
    let (width, height, _) = read_tiff(&dir.path().join("test.tif"));
    assert_eq!((width, height), (40, 30));
}

#[test]
fn a_limit_of_zero_is_refused_with_a_message() {
    let dir = TempDir::new("refused");
    let child = Command::new(example_path("scene"))
        .arg("0")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running scene");
    let output = output_within(child, TIMEOUT, "`scene 0`");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("LIMIT"), "{stderr}");
    assert!(!dir.path().join("test.tif").exists());
}
