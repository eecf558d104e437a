//! Three-component vectors: points, directions and colours alike.
//!
//! Nothing here knows about the scene: only arithmetic, with the two quirks
//! the rendering model relies on written down where they live
//! ([`Vec3::normalised`] leaves the zero vector alone).

use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub};

/// A point, a direction or an RGB colour (`x`, `y`, `z` = red, green, blue).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Vec3 {
    /// The first component (red for a colour).
    pub x: f64,
    /// The second component (green for a colour).
    pub y: f64,
    /// The third component (blue for a colour).
    pub z: f64,
}

impl Vec3 {
    /// The zero vector: the origin, and black.
    pub const ZERO: Vec3 = Vec3::new(0.0, 0.0, 0.0);

    /// The vector `(x, y, z)`.
    pub const fn new(x: f64, y: f64, z: f64) -> Self {
        Vec3 { x, y, z }
    }

    /// The dot product.
    pub fn dot(self, other: Vec3) -> f64 {
        self.x * other.x + self.y * other.y + self.z * other.z
    }

    /// The squared length.
    pub fn length_squared(self) -> f64 {
        self.dot(self)
    }

    /// The length.
    pub fn length(self) -> f64 {
        self.length_squared().sqrt()
    }

    /// This vector scaled to length 1; the zero vector stays zero (an
    /// occlusion sample of `(0, 0, 0)` is a segment of length 0, which hits
    /// nothing).
    pub fn normalised(self) -> Vec3 {
        let length = self.length();
        if length == 0.0 { self } else { self / length }
    }

    /// This vector mirrored about the plane of the unit `normal`:
    /// `v - 2 (v . n) n`.
    pub fn reflect(self, normal: Vec3) -> Vec3 {
        self - normal * (self.dot(normal) * 2.0)
    }
}

impl Add for Vec3 {
    type Output = Vec3;

    fn add(self, other: Vec3) -> Vec3 {
        Vec3::new(self.x + other.x, self.y + other.y, self.z + other.z)
    }
}

impl AddAssign for Vec3 {
    fn add_assign(&mut self, other: Vec3) {
        *self = *self + other;
    }
}

impl Sub for Vec3 {
    type Output = Vec3;

    fn sub(self, other: Vec3) -> Vec3 {
        Vec3::new(self.x - other.x, self.y - other.y, self.z - other.z)
    }
}

impl Mul<f64> for Vec3 {
    type Output = Vec3;

    fn mul(self, factor: f64) -> Vec3 {
        Vec3::new(self.x * factor, self.y * factor, self.z * factor)
    }
}

impl Div<f64> for Vec3 {
    type Output = Vec3;

    fn div(self, divisor: f64) -> Vec3 {
        Vec3::new(self.x / divisor, self.y / divisor, self.z / divisor)
    }
}

impl Neg for Vec3 {
    type Output = Vec3;

    fn neg(self) -> Vec3 {
        Vec3::new(-self.x, -self.y, -self.z)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_gives_unit_length_and_leaves_zero_alone() {
        let unit = Vec3::new(3.0, 0.0, -4.0).normalised();
        assert!((unit.length() - 1.0).abs() < 1e-12);
        assert_eq!(unit, Vec3::new(0.6, 0.0, -0.8));
        assert_eq!(Vec3::ZERO.normalised(), Vec3::ZERO);
    }

    #[test]
    fn reflecting_flips_the_normal_component_only() {
        let normal = Vec3::new(0.0, 1.0, 0.0);
        assert_eq!(
            Vec3::new(1.0, -2.0, 3.0).reflect(normal),
            Vec3::new(1.0, 2.0, 3.0)
        );
    }
}
