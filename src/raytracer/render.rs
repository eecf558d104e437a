//! Rendering: the camera, one row of pixels at a time, and the conversion
//! of colours to bytes.
//!
//! A row is the unit of parallel work: [`Frame::render_row`] is a pure
//! function of the frame and the row index (its random numbers come from
//! the row's own generator), so rows can be rendered by any process, in any
//! order, and put together into the same image.

use super::random::RowRandom;
use super::scene::{Scene, Segment};
use super::vector::Vec3;

/// One rendered row: `width * 3` bytes, RGB for each pixel left to right.
///
/// A [`pprocess::Bytes`] so that it crosses a channel as one byte string
/// (a length and a copy) rather than as a sequence of `width * 3` separately
/// encoded bytes.
pub type Row = pprocess::Bytes;

/// How far the primary rays reach, and the depth a hit must be nearer than.
pub const BACKPLANE: f64 = 2000.0;

/// The distance of the image plane from the eye.
const IMAGE_PLANE: f64 = 5.0;

/// What to render: the scene, the image size and the occlusion samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// The scene.
    pub scene: Scene,
    /// The image width in pixels.
    pub width: usize,
    /// The image height in pixels (rows).
    pub height: usize,
    /// The ambient occlusion samples per shaded point.
    pub samples: u32,
}

impl Frame {
    /// The original scene at `width` x `height` pixels with `samples`
    /// occlusion samples.
    pub fn new(width: usize, height: usize, samples: u32) -> Self {
        Frame {
            scene: Scene::original(),
            width,
            height,
            samples,
        }
    }

    /// The bytes of one row: `width * 3`.
    pub fn row_len(&self) -> usize {
        self.width * 3
    }

    /// The primary ray of pixel (`sx`, `sy`): the segment from the eye at
    /// the origin to `2000 * (x, y, 5)`, with `x = 2 (0.5 - sx/width)
    /// aspect` (so world +x is on the left of the image) and
    /// `y = 2 (0.5 - sy/height)`.
    pub fn primary_ray(&self, sx: usize, sy: usize) -> Segment {
        let width = self.width as f64;
        let height = self.height as f64;
        let aspect = width / height;
        let x = 2.0 * (0.5 - sx as f64 / width) * aspect;
        let y = 2.0 * (0.5 - sy as f64 / height);
        Segment::new(Vec3::ZERO, Vec3::new(x, y, IMAGE_PLANE) * BACKPLANE)
    }

    /// The colours of row `sy`, left to right, drawing the occlusion rays
    /// from the row's own generator.
    pub fn row_colours(&self, sy: usize) -> Vec<Vec3> {
        let mut random = RowRandom::for_row(sy);
        (0..self.width)
            .map(|sx| {
                let ray = self.primary_ray(sx, sy);
                self.scene.trace(&ray, BACKPLANE, self.samples, &mut random)
            })
            .collect()
    }

    /// Renders row `sy` to bytes: what each task computes and sends.
    pub fn render_row(&self, sy: usize) -> Row {
        let mut bytes = Vec::with_capacity(self.row_len());
        for colour in self.row_colours(sy) {
            bytes.extend([to_byte(colour.x), to_byte(colour.y), to_byte(colour.z)]);
        }
        Row::from(bytes)
    }

    /// Renders the whole image in this process, row after row: the
    /// sequential reference the parallel renderings are compared with.
    /// Returns `width * height * 3` bytes, rows top to bottom.
    pub fn render(&self) -> Vec<u8> {
        self.render_rows(0..self.height)
    }

    /// Renders `rows` in this process, in the order given, into one buffer
    /// of [`row_len`](Self::row_len) bytes per row: the work of a task that
    /// renders several rows.
    pub fn render_rows(&self, rows: impl IntoIterator<Item = usize>) -> Vec<u8> {
        rows.into_iter()
            .flat_map(|sy| self.render_row(sy).into_vec())
            .collect()
    }
}

/// A channel value as a byte: `clamp(trunc(v * 255), 0, 255)` (NaN gives 0).
pub fn to_byte(value: f64) -> u8 {
    // `as` saturates at the bounds and maps NaN to 0.
    (value * 255.0).trunc() as u8
}

/// Renders row `row` of the frame of that size: a named function, so that
/// with the `mpi` feature it runs on other ranks of an MPI job too (only
/// its name and its arguments cross; the frame is rebuilt where it runs),
/// through `frame_row::pmap_on` (the `scene_mpi` example, the MPI
/// benchmark).
///
/// ```
/// use pprocess_examples::raytracer::{Frame, frame_row};
///
/// assert_eq!(frame_row(8, 4, 1, 2), Frame::new(8, 4, 1).render_row(2));
/// ```
#[pprocess::parallel]
pub fn frame_row(width: usize, height: usize, samples: u32, row: usize) -> Row {
    Frame::new(width, height, samples).render_row(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default frame of the examples.
    fn frame() -> Frame {
        Frame::new(300, 200, 10)
    }

    fn pixel(row: &[u8], sx: usize) -> [u8; 3] {
        [row[sx * 3], row[sx * 3 + 1], row[sx * 3 + 2]]
    }

    #[test]
    fn bytes_are_truncated_and_clamped() {
        assert_eq!(to_byte(0.0), 0);
        assert_eq!(to_byte(-0.3), 0);
        assert_eq!(to_byte(0.5), 127);
        assert_eq!(to_byte(0.999), 254);
        assert_eq!(to_byte(1.0), 255);
        assert_eq!(to_byte(7.5), 255);
        assert_eq!(to_byte(f64::NAN), 0);
    }

    #[test]
    fn the_sky_is_black() {
        let frame = frame();
        let top = frame.render_row(0);
        assert_eq!(top.len(), frame.row_len());
        assert!(top.iter().all(|&byte| byte == 0), "the top row is sky");
    }

    #[test]
    fn the_big_sphere_is_green() {
        // Its centre (3, -2, 55) projects to sx = 122.7, sy = 118.2, and
        // its radius to about 45 pixels: sy = 95 is on its upper half.
        let frame = frame();
        let [red, green, blue] = pixel(&frame.render_row(95), 123);
        assert!(green > 100, "green {green}");
        assert!(green > red && green > blue, "({red}, {green}, {blue})");
    }

    #[test]
    fn the_floor_is_teal() {
        // The bottom row looks down at the floor in front of the spheres.
        let frame = frame();
        let bottom = frame.render_row(frame.height - 1);
        let [red, green, blue] = pixel(&bottom, frame.width / 2);
        assert!(green > red && blue > red, "({red}, {green}, {blue})");
        assert!(green > 30 && blue > 30, "({red}, {green}, {blue})");
    }

    #[test]
    fn world_plus_x_is_on_the_left() {
        let frame = frame();
        assert!(frame.primary_ray(0, 0).end.x > 0.0);
        assert!(frame.primary_ray(frame.width - 1, 0).end.x < 0.0);
        assert_eq!(frame.primary_ray(0, 0).end.z, 10_000.0);
    }

    #[test]
    fn rendering_a_row_twice_gives_the_same_bytes() {
        let frame = Frame::new(120, 80, 10);
        for sy in [30, 55, 79] {
            assert_eq!(frame.render_row(sy), frame.render_row(sy));
        }
        // Rows do draw random numbers: occlusion changes the picture.
        assert_ne!(frame.render_row(60), Frame::new(120, 80, 0).render_row(60));
    }

    #[test]
    fn the_sequential_rendering_is_the_rows_in_order() {
        let frame = Frame::new(30, 20, 2);
        let image = frame.render();
        assert_eq!(image.len(), 30 * 20 * 3);
        assert_eq!(&image[12 * 90..13 * 90], &frame.render_row(12)[..]);
    }
}
