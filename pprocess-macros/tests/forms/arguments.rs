//! One argument: the inputs are bare values. No argument: the inputs are
//! `()`. Pattern arguments are bound to generated names.

use pprocess::Callable;

#[pprocess::parallel]
fn square(n: u64) -> u64 {
    n * n
}

#[pprocess::parallel]
fn answer() -> u8 {
    42
}

#[pprocess::parallel]
fn nothing() {}

#[derive(Clone, Copy)]
struct Point {
    x: i32,
    y: i32,
}

#[pprocess::parallel]
fn patterns((i, j): (u32, u32), _: u8, mut n: u32, Point { x, y }: Point, ref r: u8) -> i64 {
    n += 1;
    i64::from(i * 10 + j + n) + i64::from(x * y) + i64::from(*r)
}

#[pprocess::parallel]
fn shadowing(arg0: u32, (a, b): (u32, u32), arg1: u32) -> u32 {
    arg0 * 1000 + a * 100 + b * 10 + arg1
}

/// Uses every helper of this form and checks what it returns.
pub(super) fn run() {
    let squares: Vec<u64> = square::pmap(0..5).collect::<pprocess::Result<_>>().unwrap();
    assert_eq!(squares, [0, 1, 4, 9, 16]);

    let answers: Vec<u8> = answer::pmap_limit([(), ()], 1)
        .collect::<pprocess::Result<_>>()
        .unwrap();
    assert_eq!(answers, [42, 42]);

    let mut channel = pprocess::start(nothing::parallel().bind(())).unwrap();
    channel.receive::<()>().unwrap();

    let point = Point { x: 2, y: 3 };
    assert_eq!(patterns((1, 2), 0, 3, point, 1), 12 + 4 + 6 + 1);
    let mut channel = pprocess::start(patterns::parallel().bind(((1, 2), 0, 3, point, 1))).unwrap();
    assert_eq!(channel.receive::<i64>().unwrap(), 23);

    let shadowed: Vec<u32> = shadowing::pmap([(1, (2, 3), 4)])
        .collect::<pprocess::Result<_>>()
        .unwrap();
    assert_eq!(shadowed, [1234]);
}
