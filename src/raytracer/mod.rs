//! The raytracer of the `scene` examples: Dave Griffiths' PyGmy raytracer
//! as the original pprocess distribution ships it, rendering model and
//! quirks included, so the picture is the original's: a green big sphere
//! behind a ring of small green spheres on a patterned teal floor, under a
//! black sky.
//!
//! The work is split by rows: [`Frame::render_row`] renders one row to
//! `width * 3` bytes and depends on nothing but the frame and the row
//! index (its ambient occlusion rays come from a generator seeded by the
//! row index), so every way of farming rows out to processes gives the
//! byte-identical image.
//!
//! ```
//! use pprocess_examples::raytracer::Frame;
//!
//! let frame = Frame::new(30, 20, 2);
//! let mut image = Vec::new();
//! for row in pprocess::pmap_limit(|row| frame.render_row(row), 0..frame.height, 2) {
//!     image.extend_from_slice(&row?);
//! }
//! assert_eq!(image, frame.render());
//! # Ok::<(), pprocess::Error>(())
//! ```
//!
//! The modules, from the bottom up: [`vector`] (arithmetic), [`random`]
//! (the per-row generator), [`scene`] (objects, lights, shading),
//! [`render`] (the camera, rows, bytes), [`image`] (rows put together, the
//! TIFF file) and [`cli`] (the examples' shared command line).

pub mod cli;
pub mod image;
pub mod random;
pub mod render;
pub mod scene;
pub mod vector;

pub use image::{Canvas, write_tiff};
pub use render::{Frame, Row, frame_row, to_byte};
pub use scene::Scene;
pub use vector::Vec3;
