//! The scene: objects (spheres and a plane, each with its shader), lights,
//! and the shading model of the original PyGmy raytracer, quirks included.
//!
//! Rays are *segments*: a hit counts only inside the segment. Shadows,
//! reflections and occlusion test "every other object", never the object
//! being shaded; reflections add up the colour of every other object the
//! reflected segment hits, not only the nearest. Nothing here clamps a
//! colour: only the conversion to bytes does.

use super::random::RowRandom;
use super::vector::Vec3;

/// The value of pi the ring of spheres is spaced with: 3.141, as in the
/// original, not [`std::f64::consts::PI`].
#[allow(clippy::approx_constant)]
const RING_PI: f64 = 3.141;

/// A segment from `start` to `end`: the rays of this raytracer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Segment {
    /// Where the segment starts (parameter `t = 0`).
    pub start: Vec3,
    /// Where it ends (parameter `t = 1`).
    pub end: Vec3,
}

impl Segment {
    /// The segment from `start` to `end`.
    pub fn new(start: Vec3, end: Vec3) -> Self {
        Segment { start, end }
    }

    /// `end - start`.
    pub fn vector(&self) -> Vec3 {
        self.end - self.start
    }

    /// The point at parameter `t`.
    pub fn at(&self, t: f64) -> Vec3 {
        self.start + self.vector() * t
    }
}

/// Where a segment meets an object.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    /// The point hit.
    pub position: Vec3,
    /// The object's unit normal there.
    pub normal: Vec3,
}

/// The geometry of an object.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shape {
    /// A sphere.
    Sphere {
        /// Its centre.
        centre: Vec3,
        /// Its radius.
        radius: f64,
    },
    /// The plane of the points `p` with `normal . p + distance = 0`.
    Plane {
        /// Its unit normal.
        normal: Vec3,
        /// Its signed distance term.
        distance: f64,
    },
}

impl Shape {
    /// Where `segment` hits this shape, if it does.
    ///
    /// A sphere is hit at the nearer root of the quadratic, only when the
    /// discriminant is positive and that root `t` has `0 < t < 1` (a
    /// segment starting inside a sphere does not hit it). A plane is hit
    /// when `0 <= t <= 1`, never by a segment parallel to it.
    pub fn intersect(&self, segment: &Segment) -> Option<Hit> {
        let direction = segment.vector();
        let start = segment.start;
        match *self {
            Shape::Sphere { centre, radius } => {
                // The coefficients as the original computes them.
                let a = direction.length_squared();
                let b = 2.0 * direction.dot(start - centre);
                let c = centre.length_squared() + start.length_squared()
                    - 2.0 * centre.dot(start)
                    - radius * radius;
                let discriminant = b * b - 4.0 * a * c;
                if discriminant <= 0.0 {
                    return None;
                }
                let t = (-b - discriminant.sqrt()) / (2.0 * a);
                if !(t > 0.0 && t < 1.0) {
                    return None;
                }
                let position = segment.at(t);
                Some(Hit {
                    position,
                    normal: (position - centre).normalised(),
                })
            }
            Shape::Plane { normal, distance } => {
                let along = normal.dot(direction);
                if along == 0.0 {
                    return None;
                }
                let t = -(normal.dot(start) + distance) / along;
                if !(0.0..=1.0).contains(&t) {
                    return None;
                }
                Some(Hit {
                    position: segment.at(t),
                    normal,
                })
            }
        }
    }
}

/// How an object turns light, reflection and occlusion into a colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shader {
    /// The spheres' shader: `(0.5 lights + 0.5 reflection) * occlusion`.
    Everything,
    /// The floor's shader: the lights halved where
    /// `sin(p.x) + cos(p.z) > 0.5` (the spots), then
    /// `0.5 reflection + 0.5 lights * occlusion`.
    Spots,
}

/// A shape with its shader.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Object {
    /// The geometry.
    pub shape: Shape,
    /// The shader.
    pub shader: Shader,
}

/// A light.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Light {
    /// Light from infinitely far away, along a unit `direction` (pointing
    /// towards the light).
    Parallel {
        /// The unit direction towards the light.
        direction: Vec3,
        /// Its colour.
        colour: Vec3,
    },
    /// Light from a point.
    Point {
        /// Where the light is.
        position: Vec3,
        /// Its colour.
        colour: Vec3,
    },
}

/// What a shader needs to know about the point it shades.
#[derive(Clone, Copy, Debug)]
struct Shading {
    /// The index of the object being shaded, in the scene's order.
    object: usize,
    /// The point shaded.
    position: Vec3,
    /// The object's normal there.
    normal: Vec3,
    /// The segment that arrived there (for reflection).
    ray: Segment,
    /// How many more reflections may follow.
    depth: u32,
}

/// The objects and lights, and the shading model.
#[derive(Clone, Debug, PartialEq)]
pub struct Scene {
    /// The objects, in the order they are tested.
    pub objects: Vec<Object>,
    /// The lights, summed without clamping.
    pub lights: Vec<Light>,
}

impl Scene {
    /// The scene of the original distribution: a ring of ten small green
    /// spheres around a big one, above a patterned floor, in a parallel and
    /// a point light.
    pub fn original() -> Self {
        let offset = Vec3::new(0.0, -5.0, 55.0);
        let mut objects: Vec<Object> = (0..10)
            .map(|k| {
                let angle = 0.3 + f64::from(k) * 2.0 * RING_PI / 10.0;
                Object {
                    shape: Shape::Sphere {
                        centre: Vec3::new(12.0 * angle.sin(), 0.0, 12.0 * angle.cos()) + offset,
                        radius: 2.0,
                    },
                    shader: Shader::Everything,
                }
            })
            .collect();
        objects.push(Object {
            shape: Shape::Sphere {
                centre: Vec3::new(3.0, 3.0, 0.0) + offset,
                radius: 5.0,
            },
            shader: Shader::Everything,
        });
        objects.push(Object {
            shape: Shape::Plane {
                normal: Vec3::new(0.0, 1.0, 0.0),
                distance: 7.0,
            },
            shader: Shader::Spots,
        });
        let lights = vec![
            Light::Parallel {
                direction: Vec3::new(1.0, 1.0, -1.0).normalised(),
                colour: Vec3::new(0.3, 0.9, 0.1),
            },
            Light::Point {
                position: Vec3::new(5.0, 100.0, -5.0),
                colour: Vec3::new(0.5, 0.5, 1.0),
            },
        ];
        Scene { objects, lights }
    }

    /// The colour seen along the primary `ray`: objects are tested in scene
    /// order, and each hit with `0 < z < depth` (depth starting at
    /// `backplane`) becomes the depth and recomputes the colour with that
    /// object's shader, reflections allowed to depth 2. Black if nothing is
    /// hit.
    pub fn trace(
        &self,
        ray: &Segment,
        backplane: f64,
        samples: u32,
        random: &mut RowRandom,
    ) -> Vec3 {
        let mut depth = backplane;
        let mut colour = Vec3::ZERO;
        for (index, object) in self.objects.iter().enumerate() {
            let Some(hit) = object.shape.intersect(ray) else {
                continue;
            };
            if hit.position.z < depth && hit.position.z > 0.0 {
                depth = hit.position.z;
                let shading = Shading {
                    object: index,
                    position: hit.position,
                    normal: hit.normal,
                    ray: *ray,
                    depth: 2,
                };
                colour = self.shade(&shading, samples, random);
            }
        }
        colour
    }

    /// Whether `segment` hits any object but `object`.
    fn blocked(&self, object: usize, segment: &Segment) -> bool {
        self.objects
            .iter()
            .enumerate()
            .any(|(index, other)| index != object && other.shape.intersect(segment).is_some())
    }

    /// The sum of the lights at the shaded point, each 0 when in shadow.
    fn lights(&self, shading: &Shading) -> Vec3 {
        let mut colour = Vec3::ZERO;
        for light in &self.lights {
            colour += match *light {
                Light::Parallel { direction, colour } => {
                    let towards =
                        Segment::new(shading.position, shading.position + direction * 1000.0);
                    if self.blocked(shading.object, &towards) {
                        Vec3::ZERO
                    } else {
                        colour * direction.dot(shading.normal)
                    }
                }
                Light::Point { position, colour } => {
                    let towards = Segment::new(shading.position, position);
                    if self.blocked(shading.object, &towards) {
                        Vec3::ZERO
                    } else {
                        let direction = (position - shading.position).normalised();
                        colour * direction.dot(shading.normal)
                    }
                }
            };
        }
        colour
    }

    /// The reflection: the whole incoming segment mirrored at the shaded
    /// point, and the shaded colour of every other object it hits, added
    /// up. Black once the depth is used up.
    fn reflection(&self, shading: &Shading, samples: u32, random: &mut RowRandom) -> Vec3 {
        if shading.depth == 0 {
            return Vec3::ZERO;
        }
        let mirrored = shading.ray.vector().reflect(shading.normal);
        let reflected = Segment::new(shading.position, shading.position + mirrored);
        let mut colour = Vec3::ZERO;
        for (index, object) in self.objects.iter().enumerate() {
            if index == shading.object {
                continue;
            }
            if let Some(hit) = object.shape.intersect(&reflected) {
                let next = Shading {
                    object: index,
                    position: hit.position,
                    normal: hit.normal,
                    ray: reflected,
                    depth: shading.depth - 1,
                };
                colour += self.shade(&next, samples, random);
            }
        }
        colour
    }

    /// Ambient occlusion: `1 - occluded / samples`, where each sample is a
    /// random integer vector with components in `-100..100`, normalised and
    /// scaled to 2.5, and is occluded if the segment from the shaded point
    /// along it hits any other object. 1 without samples.
    fn occlusion(&self, shading: &Shading, samples: u32, random: &mut RowRandom) -> f64 {
        if samples == 0 {
            return 1.0;
        }
        let mut occluded = 0u32;
        for _ in 0..samples {
            // Drawn in the order x, y, z.
            let x = random.range(-100, 100) as f64;
            let y = random.range(-100, 100) as f64;
            let z = random.range(-100, 100) as f64;
            let sample = Vec3::new(x, y, z).normalised() * 2.5;
            let test = Segment::new(shading.position, shading.position + sample);
            if self.blocked(shading.object, &test) {
                occluded += 1;
            }
        }
        1.0 - f64::from(occluded) / f64::from(samples)
    }

    /// The colour of the shaded point: lights first, then the reflection,
    /// then the occlusion (the order the random numbers are drawn in).
    fn shade(&self, shading: &Shading, samples: u32, random: &mut RowRandom) -> Vec3 {
        let lights = self.lights(shading);
        match self.objects[shading.object].shader {
            Shader::Everything => {
                let reflection = self.reflection(shading, samples, random);
                (lights * 0.5 + reflection * 0.5) * self.occlusion(shading, samples, random)
            }
            Shader::Spots => {
                let position = shading.position;
                let lights = if position.x.sin() + position.z.cos() > 0.5 {
                    lights / 2.0
                } else {
                    lights
                };
                let reflection = self.reflection(shading, samples, random);
                reflection * 0.5 + lights * 0.5 * self.occlusion(shading, samples, random)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sphere() -> Shape {
        Shape::Sphere {
            centre: Vec3::new(0.0, 0.0, 10.0),
            radius: 2.0,
        }
    }

    fn floor() -> Shape {
        Shape::Plane {
            normal: Vec3::new(0.0, 1.0, 0.0),
            distance: 7.0,
        }
    }

    #[test]
    fn a_segment_through_a_sphere_hits_its_near_side() {
        let hit = sphere()
            .intersect(&Segment::new(Vec3::ZERO, Vec3::new(0.0, 0.0, 20.0)))
            .expect("a hit");
        assert!((hit.position.z - 8.0).abs() < 1e-12);
        assert!((hit.normal.z + 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_segment_that_stops_short_or_starts_inside_misses_the_sphere() {
        let short = Segment::new(Vec3::ZERO, Vec3::new(0.0, 0.0, 7.0));
        assert_eq!(sphere().intersect(&short), None);
        let inside = Segment::new(Vec3::new(0.0, 0.0, 10.0), Vec3::new(0.0, 0.0, 20.0));
        assert_eq!(sphere().intersect(&inside), None);
        let grazing = Segment::new(Vec3::new(2.0, 0.0, 0.0), Vec3::new(2.0, 0.0, 20.0));
        assert_eq!(sphere().intersect(&grazing), None);
    }

    #[test]
    fn a_plane_is_hit_within_the_segment_ends_included() {
        let down = Segment::new(Vec3::new(1.0, 0.0, 2.0), Vec3::new(1.0, -7.0, 2.0));
        let hit = floor().intersect(&down).expect("the end touches the plane");
        assert_eq!(hit.position, Vec3::new(1.0, -7.0, 2.0));
        assert_eq!(hit.normal, Vec3::new(0.0, 1.0, 0.0));
        let short = Segment::new(Vec3::ZERO, Vec3::new(0.0, -6.0, 0.0));
        assert_eq!(floor().intersect(&short), None);
        let parallel = Segment::new(Vec3::ZERO, Vec3::new(100.0, 0.0, 0.0));
        assert_eq!(floor().intersect(&parallel), None);
    }

    #[test]
    fn the_original_scene_has_eleven_spheres_then_the_floor() {
        let scene = Scene::original();
        assert_eq!(scene.objects.len(), 12);
        assert!(matches!(
            scene.objects[10].shape,
            Shape::Sphere { radius, .. } if radius == 5.0
        ));
        assert_eq!(scene.objects[11].shader, Shader::Spots);
        assert_eq!(scene.lights.len(), 2);
    }
}
