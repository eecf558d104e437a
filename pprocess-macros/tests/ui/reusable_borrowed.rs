struct Point {
    x: i32,
}

#[pprocess::reusable]
fn measure(text: &str, bytes: &[u8], point: &Point, count: &mut u32) -> usize {
    *count += 1;
    text.len() + bytes.len() + point.x as usize
}

fn main() {}
