//! The image being put together in the creator: rows stored as they
//! arrive, a progress bar, and the TIFF file written at the end.
//!
//! Nothing here renders, and nothing here runs in a created process.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use tiff::encoder::{TiffEncoder, colortype};

use super::render::Frame;

/// Rows stored as they arrive, in any order, with a progress bar.
///
/// [`put`](Canvas::put) never fails: a row of the wrong length, an index
/// out of range or a row sent twice is recorded, and
/// [`finish`](Canvas::finish) reports it along with any missing row. So a
/// handler of an exchange can store rows without an error type of its own.
///
/// The progress bar is drawn on standard error, and only when standard
/// error is a terminal.
#[derive(Debug)]
pub struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
    arrived: Vec<bool>,
    problems: Vec<String>,
    bar: ProgressBar,
}

impl Canvas {
    /// An empty image of `frame`'s size, with a progress bar labelled
    /// `label`.
    pub fn new(frame: &Frame, label: &str) -> Self {
        let bar = ProgressBar::new(frame.height as u64).with_prefix(label.to_owned());
        bar.set_style(
            ProgressStyle::with_template("{prefix:>10} [{bar:40}] {pos}/{len} rows {elapsed}")
                .expect("a valid progress template")
                .progress_chars("=> "),
        );
        Canvas {
            width: frame.width,
            height: frame.height,
            pixels: vec![0; frame.width * frame.height * 3],
            arrived: vec![false; frame.height],
            problems: Vec::new(),
            bar,
        }
    }

    /// Stores row `row` (`width * 3` bytes) and advances the progress bar.
    pub fn put(&mut self, row: usize, bytes: &[u8]) {
        let row_len = self.width * 3;
        if row >= self.height {
            self.problems.push(format!(
                "row {row} is outside the image of {} rows",
                self.height
            ));
        } else if bytes.len() != row_len {
            self.problems.push(format!(
                "row {row} has {} bytes instead of {row_len}",
                bytes.len()
            ));
        } else if self.arrived[row] {
            self.problems.push(format!("row {row} arrived twice"));
        } else {
            self.pixels[row * row_len..(row + 1) * row_len].copy_from_slice(bytes);
            self.arrived[row] = true;
            self.bar.inc(1);
        }
    }

    /// The image, `width * height * 3` bytes with the rows top to bottom;
    /// or what went wrong: rows that never arrived, and what
    /// [`put`](Canvas::put) recorded.
    pub fn finish(self) -> Result<Vec<u8>, String> {
        self.bar.finish_and_clear();
        let mut problems = self.problems;
        let missing: Vec<String> = (0..self.height)
            .filter(|&row| !self.arrived[row])
            .map(|row| row.to_string())
            .collect();
        if !missing.is_empty() {
            problems.push(format!(
                "{} rows never arrived: {}",
                missing.len(),
                missing.join(", ")
            ));
        }
        if problems.is_empty() {
            Ok(self.pixels)
        } else {
            Err(problems.join("; "))
        }
    }
}

/// Writes `pixels` (`width * height * 3` bytes, rows top to bottom) to
/// `path` as an uncompressed 8-bit RGB TIFF image.
pub fn write_tiff(path: &Path, width: u32, height: u32, pixels: &[u8]) -> tiff::TiffResult<()> {
    let file = BufWriter::new(File::create(path)?);
    let mut encoder = TiffEncoder::new(file)?;
    encoder.write_image::<colortype::RGB8>(width, height, pixels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_land_in_place_whatever_their_order() {
        let frame = Frame::new(2, 3, 1);
        let mut canvas = Canvas::new(&frame, "test");
        canvas.put(2, &[5; 6]);
        canvas.put(0, &[1; 6]);
        canvas.put(1, &[3; 6]);
        let image = canvas.finish().expect("all rows");
        assert_eq!(image, [[1; 6], [3; 6], [5; 6]].concat());
    }

    #[test]
    fn missing_wrong_and_repeated_rows_are_reported() {
        let frame = Frame::new(2, 4, 1);
        let mut canvas = Canvas::new(&frame, "test");
        canvas.put(0, &[1; 6]);
        canvas.put(0, &[1; 6]);
        canvas.put(1, &[1; 5]);
        canvas.put(9, &[1; 6]);
        let problems = canvas.finish().expect_err("problems");
        assert!(problems.contains("row 0 arrived twice"), "{problems}");
        assert!(problems.contains("row 1 has 5 bytes"), "{problems}");
        assert!(problems.contains("row 9 is outside"), "{problems}");
        assert!(
            problems.contains("3 rows never arrived: 1, 2, 3"),
            "{problems}"
        );
    }
}
