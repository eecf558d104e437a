//! A map of known length is an `ExactSizeIterator` (`Map::exact`), so a
//! progress bar knows its length (issue 18, item 7).

use indicatif::{ProgressBar, ProgressIterator};
use pprocess::{Map, pmap};

/// Iterates `map`, checking that `len` counts down to 0 by one per result.
fn count_down(map: pprocess::ExactMap<'_, u64>, inputs: u64) -> Vec<u64> {
    assert_eq!(map.len() as u64, inputs);
    let mut results = Vec::new();
    let mut map = map;
    while let Some(result) = map.next() {
        results.push(result.unwrap());
        assert_eq!(map.len() as u64, inputs - results.len() as u64);
    }
    assert_eq!(map.len(), 0);
    results
}

#[test]
fn a_pmap_over_a_range_counts_its_results_down() {
    let results = count_down(pmap(|n: u64| n + 1, 0..20).exact(), 20);
    assert_eq!(results, (1..=20).collect::<Vec<_>>());
}

#[test]
fn a_pmap_with_reuse_over_a_vec_counts_its_results_down() {
    let inputs: Vec<u64> = (0..300).collect();
    let map = Map::new().limit(2).reuse(true).pmap(|n: u64| n * 3, inputs);
    let results = count_down(map.exact(), 300);
    assert_eq!(results, (0..300).map(|n| n * 3).collect::<Vec<_>>());
}

#[test]
fn tasks_given_one_by_one_are_counted() {
    let mut map = Map::<u64>::new().limit(2);
    for n in 0..5u64 {
        map.start(move |channel| channel.send(&n));
    }
    assert_eq!(count_down(map.exact(), 5), [0, 1, 2, 3, 4]);
}

#[test]
fn a_progress_bar_gets_the_length_and_reaches_it() {
    let squares = pmap(|n: u64| n * n, 0..12).exact().progress();
    let bar = squares.progress.clone();
    assert_eq!(bar.length(), Some(12));
    let results: Vec<u64> = squares.map(Result::unwrap).collect();
    assert_eq!(results, (0..12).map(|n| n * n).collect::<Vec<_>>());
    assert_eq!(bar.position(), 12);

    let bar = ProgressBar::hidden();
    let doubled = Map::new()
        .reuse(true)
        .pmap(|n: u64| n * 2, [1, 2, 3])
        .exact()
        .progress_with(bar.clone());
    let doubled: Vec<u64> = doubled.map(Result::unwrap).collect();
    assert_eq!(doubled, [2, 4, 6]);
    assert_eq!(bar.position(), 3);
}

#[test]
#[should_panic(expected = "the number of results is not known")]
fn an_endless_map_is_not_exact() {
    let _ = Map::new().reuse(true).pmap(|n: u64| n, 1..).exact();
}

#[test]
#[should_panic(expected = "the number of results is not known")]
fn a_map_over_filtered_inputs_is_not_exact() {
    let _ = pmap(|n: u64| n, (0..10).filter(|n| n % 2 == 0)).exact();
}
