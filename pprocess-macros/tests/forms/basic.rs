//! The form of the docs: two arguments, every generated function used.

use pprocess::Callable;

#[pprocess::parallel]
fn calculate(i: u32, j: u32) -> u32 {
    i * 10 + j
}

/// Uses every helper of this form and checks what it returns.
pub(super) fn run() {
    assert_eq!(calculate(1, 2), 12);
    let cells: Vec<u32> = calculate::pmap([(0, 1), (2, 3)])
        .collect::<pprocess::Result<_>>()
        .unwrap();
    assert_eq!(cells, [1, 23]);
    let cells: Vec<u32> = calculate::pmap_limit(vec![(4, 5)], 1)
        .collect::<pprocess::Result<_>>()
        .unwrap();
    assert_eq!(cells, [45]);
    let mut channel = pprocess::start(calculate::parallel().bind((6, 7))).unwrap();
    assert_eq!(channel.receive::<u32>().unwrap(), 67);
}
