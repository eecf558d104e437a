//! Types in the signature resolve as they do for the function, including
//! private ones and paths through `self::` and `super::`, from inside the
//! generated module.

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Cell(u32);

mod grid {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    pub(crate) struct Row(pub(crate) Vec<super::Cell>);

    #[pprocess::reusable]
    pub(crate) fn row(i: u32, cells: self::Width) -> super::grid::Row {
        Row((0..cells.0).map(|j| super::Cell(i * 10 + j)).collect())
    }

    #[pprocess::parallel]
    pub(crate) fn first(row: Row) -> Option<super::Cell> {
        row.0.into_iter().next()
    }

    #[derive(Serialize, Deserialize, Clone, Copy)]
    pub(crate) struct Width(pub(crate) u32);
}

/// Uses every helper of this form and checks what it returns.
pub(super) fn run() {
    let rows: Vec<grid::Row> = grid::row::pmap([(1, grid::Width(2))])
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows, [grid::Row(vec![Cell(10), Cell(11)])]);
    let firsts: Vec<Option<Cell>> = grid::first::pmap(rows).map(Result::unwrap).collect();
    assert_eq!(firsts, [Some(Cell(10))]);
}
