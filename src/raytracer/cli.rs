//! The command line shared by the four raytracer examples (`scene`,
//! `scene_pmap`, `scene_queue`, `scene_reuse`): the arguments, the timing,
//! the comparison with a sequential rendering, and the TIFF file.
//!
//! The examples differ only in how they farm the rows out to created
//! processes; each gives [`run`] a function that does that.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use clap::builder::RangedU64ValueParser;

use super::image::{Canvas, write_tiff};
use super::render::Frame;

/// The arguments of the raytracer examples.
#[derive(Debug, Parser)]
#[command(
    about = "Renders the PyGmy scene row by row in parallel processes and writes a TIFF image",
    long_about = None
)]
pub struct Args {
    /// The most processes to run at once (default: the number of cores).
    #[arg(value_parser = RangedU64ValueParser::<usize>::new().range(1..=4096))]
    pub limit: Option<usize>,

    /// The image width in pixels.
    #[arg(long, default_value_t = 300, value_parser = RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    pub width: usize,

    /// The image height in pixels: one task per row.
    #[arg(long, default_value_t = 200, value_parser = RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    pub height: usize,

    /// The ambient occlusion samples per shaded point.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub samples: u32,

    /// The TIFF file to write.
    #[arg(long, default_value = "test.tif")]
    pub output: PathBuf,

    /// Also render the image in this process alone, sequentially, check
    /// that it is the same image, and print the speedup.
    #[arg(long)]
    pub compare: bool,
}

/// Runs a raytracer example: parses the arguments, calls `farm` to render
/// the frame's rows in parallel under the process limit (storing each row
/// in the canvas as it arrives), prints the time taken and the limit, with
/// `--compare` renders the same image sequentially and prints the speedup,
/// and writes the TIFF file.
///
/// `name` labels the progress bar and the messages. Returns the exit code:
/// failure if a task failed, a row is missing, the sequential image
/// differs, or the file cannot be written.
pub fn run<F>(name: &str, farm: F) -> ExitCode
where
    F: FnOnce(&Frame, usize, &mut Canvas) -> pprocess::Result<()>,
{
    let args = Args::parse();
    match render_and_write(name, &args, farm) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{name}: {message}");
            ExitCode::FAILURE
        }
    }
}

fn render_and_write<F>(name: &str, args: &Args, farm: F) -> Result<(), String>
where
    F: FnOnce(&Frame, usize, &mut Canvas) -> pprocess::Result<()>,
{
    let frame = Frame::new(args.width, args.height, args.samples);
    let limit = args.limit.unwrap_or_else(pprocess::get_number_of_cores);

    let started = Instant::now();
    let mut canvas = Canvas::new(&frame, name);
    farm(&frame, limit, &mut canvas).map_err(|error| format!("rendering failed: {error}"))?;
    let image = canvas.finish()?;
    let parallel = started.elapsed();

    println!(
        "{name}: {}x{} pixels, {} occlusion samples, {} rows as tasks",
        frame.width, frame.height, frame.samples, frame.height
    );
    println!("Time taken: {:.3} s", parallel.as_secs_f64());
    println!("Process limit: {limit}");

    if args.compare {
        let started = Instant::now();
        let sequential_image = render_sequentially(&frame)?;
        let sequential = started.elapsed();
        if sequential_image != image {
            return Err("the parallel image differs from the sequential one".to_owned());
        }
        println!(
            "Sequential time (one process): {:.3} s",
            sequential.as_secs_f64()
        );
        println!(
            "Speedup: {:.2}x (the images are identical)",
            sequential.as_secs_f64() / parallel.as_secs_f64()
        );
    }

    let (width, height) = (frame.width as u32, frame.height as u32);
    write_tiff(&args.output, width, height, &image)
        .map_err(|error| format!("cannot write {}: {error}", args.output.display()))?;
    println!("Wrote {}", args.output.display());
    Ok(())
}

/// Renders `frame` in this process, row after row, with a progress bar.
fn render_sequentially(frame: &Frame) -> Result<Vec<u8>, String> {
    let mut canvas = Canvas::new(frame, "sequential");
    for row in 0..frame.height {
        canvas.put(row, &frame.render_row(row));
    }
    canvas.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_original_image() {
        let args = Args::try_parse_from(["scene"]).expect("no arguments needed");
        assert_eq!(args.limit, None);
        assert_eq!((args.width, args.height, args.samples), (300, 200, 10));
        assert_eq!(args.output, PathBuf::from("test.tif"));
        assert!(!args.compare);
    }

    #[test]
    fn the_limit_is_positional_and_at_least_one() {
        let args = Args::try_parse_from(["scene", "2", "--compare", "--width", "60"])
            .expect("valid arguments");
        assert_eq!(args.limit, Some(2));
        assert_eq!(args.width, 60);
        assert!(args.compare);
        assert!(Args::try_parse_from(["scene", "0"]).is_err());
        assert!(Args::try_parse_from(["scene", "--samples", "0"]).is_err());
    }

    #[test]
    fn clap_accepts_the_definition() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
