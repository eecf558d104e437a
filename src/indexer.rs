//! The text indexer behind the `start_indexer` example: which files of a
//! directory to index, the words of a file, and the prefix index the
//! creator builds from the `(word, file)` pairs its processes send.
//!
//! A word is the first run of letters and digits ([`char::is_alphanumeric`],
//! so Unicode letters and digits count) of a white-space separated token:
//! `"(Hello,"` gives `Hello`, `"café--au-lait"` gives `café`, `"..."` gives
//! nothing. Words keep their case.
//!
//! ```
//! use pprocess_examples::indexer::{Index, words};
//!
//! let mut index = Index::new();
//! for word in words("The cat (catalogued) the cats.") {
//!     index.insert(word.to_owned(), "a.txt".to_owned());
//! }
//! index.insert("cat".to_owned(), "b.txt".to_owned());
//! let found: Vec<String> = index
//!     .matches("cat")
//!     .map(|(word, files)| pprocess_examples::indexer::format_match(word, files))
//!     .collect();
//! assert_eq!(found, ["cat: a.txt b.txt", "catalogued: a.txt", "cats: a.txt"]);
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::ops::Bound;
use std::path::{Path, PathBuf};

/// The word `token` contributes to the index: its first run of letters and
/// digits, or `None` if it has none.
///
/// ```
/// use pprocess_examples::indexer::first_word;
///
/// assert_eq!(first_word("\"Hello,"), Some("Hello"));
/// assert_eq!(first_word("42nd"), Some("42nd"));
/// assert_eq!(first_word("--"), None);
/// ```
pub fn first_word(token: &str) -> Option<&str> {
    let start = token.find(char::is_alphanumeric)?;
    let rest = &token[start..];
    let end = rest
        .find(|c: char| !c.is_alphanumeric())
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// The distinct words of `text`, sorted: the [`first_word`] of each of its
/// white-space separated tokens.
pub fn words(text: &str) -> BTreeSet<&str> {
    text.split_whitespace().filter_map(first_word).collect()
}

/// The distinct words of the file at `path`, read as UTF-8 with invalid
/// bytes replaced by U+FFFD (which is not a letter, so it ends a word).
pub fn read_words(path: &Path) -> io::Result<BTreeSet<String>> {
    let bytes = std::fs::read(path)?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(words(&text).into_iter().map(str::to_owned).collect())
}

/// A file to index: its name in the directory (the name the index and the
/// output use; lossily converted if it is not UTF-8) and its path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// The file name, relative to the directory.
    pub name: String,
    /// The path to read.
    pub path: PathBuf,
}

/// The files directly in `dir` to index, sorted by name: its regular files
/// (and symbolic links to regular files). Subdirectories and special files
/// (FIFOs, sockets, devices) are left out; an entry whose kind cannot be
/// found out (a symbolic link to a missing file) is kept, so that reading
/// it fails and is reported.
pub fn list_files(dir: &Path) -> io::Result<Vec<FileEntry>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let keep = std::fs::metadata(&path).map_or(true, |metadata| metadata.is_file());
        if keep {
            let name = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.push(FileEntry { name, path });
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// A prefix index: each word with the sorted set of files it occurs in.
/// Words are kept sorted, so the words that begin with a prefix are a range.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Index {
    words: BTreeMap<String, BTreeSet<String>>,
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Index::default()
    }

    /// Records that `word` occurs in `file` (once is enough; more is harmless).
    pub fn insert(&mut self, word: String, file: String) {
        self.words.entry(word).or_default().insert(file);
    }

    /// The number of distinct words.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether no word has been recorded.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The words that begin with `prefix`, in sorted order, each with the
    /// files it occurs in. The empty prefix matches every word.
    pub fn matches<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a BTreeSet<String>)> + 'a {
        self.words
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(move |(word, _)| word.starts_with(prefix))
            .map(|(word, files)| (word.as_str(), files))
    }
}

impl Extend<(String, String)> for Index {
    /// Records each `(word, file)` pair.
    fn extend<I: IntoIterator<Item = (String, String)>>(&mut self, pairs: I) {
        for (word, file) in pairs {
            self.insert(word, file);
        }
    }
}

/// The line printed for a match: `word: file1 file2 ...`, the files in the
/// order given (sorted, from [`Index::matches`]), separated by one space.
pub fn format_match(word: &str, files: &BTreeSet<String>) -> String {
    let mut line = format!("{word}:");
    for file in files {
        line.push(' ');
        line.push_str(file);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(pairs: &[(&str, &str)]) -> Index {
        let mut index = Index::new();
        index.extend(
            pairs
                .iter()
                .map(|&(word, file)| (word.to_owned(), file.to_owned())),
        );
        index
    }

    fn lines(index: &Index, prefix: &str) -> Vec<String> {
        index
            .matches(prefix)
            .map(|(word, files)| format_match(word, files))
            .collect()
    }

    #[test]
    fn first_word_takes_the_first_run_of_letters_and_digits() {
        assert_eq!(first_word("word"), Some("word"));
        assert_eq!(first_word("(word),"), Some("word"));
        assert_eq!(first_word("don't"), Some("don"));
        assert_eq!(first_word("e-mail"), Some("e"));
        assert_eq!(first_word("--x2y--z"), Some("x2y"));
        assert_eq!(first_word("1.5"), Some("1"));
        assert_eq!(first_word("naïve!"), Some("naïve"));
        assert_eq!(first_word("Ωmega"), Some("Ωmega"));
        assert_eq!(first_word("日本語。"), Some("日本語"));
        assert_eq!(first_word("٣٤"), Some("٣٤"));
        assert_eq!(first_word("caf\u{FFFD}"), Some("caf"));
        assert_eq!(first_word("..."), None);
        assert_eq!(first_word(""), None);
    }

    #[test]
    fn words_are_distinct_sorted_and_keep_their_case() {
        let found: Vec<&str> = words("b a\tb\n(a) A -- 'c'\r\n\u{a0}d ...")
            .into_iter()
            .collect();
        assert_eq!(found, ["A", "a", "b", "c", "d"]);
        assert!(words("").is_empty());
        assert!(words(" \n\t ... !!").is_empty());
    }

    #[test]
    fn matches_are_the_words_with_the_prefix_in_order() {
        let index = index(&[
            ("cat", "b"),
            ("cat", "a"),
            ("cats", "a"),
            ("ca", "c"),
            ("dog", "a"),
            ("c", "d"),
            ("cb", "a"),
            ("cat", "a"),
        ]);
        assert_eq!(index.len(), 6);
        assert_eq!(lines(&index, "cat"), ["cat: a b", "cats: a"]);
        assert_eq!(lines(&index, "ca"), ["ca: c", "cat: a b", "cats: a"]);
        assert_eq!(
            lines(&index, "c"),
            ["c: d", "ca: c", "cat: a b", "cats: a", "cb: a"]
        );
        assert_eq!(lines(&index, "cats"), ["cats: a"]);
        assert!(lines(&index, "catsup").is_empty());
        assert!(lines(&index, "b").is_empty());
        assert!(lines(&index, "z").is_empty());
        assert_eq!(lines(&index, "").len(), 6);
    }

    #[test]
    fn matches_handle_multibyte_prefixes() {
        let index = index(&[("é", "a"), ("éa", "b"), ("ée", "a"), ("f", "a")]);
        assert_eq!(lines(&index, "é"), ["é: a", "éa: b", "ée: a"]);
        assert_eq!(lines(&index, "ée"), ["ée: a"]);
    }

    #[test]
    fn an_empty_index_matches_nothing() {
        let index = Index::new();
        assert!(index.is_empty());
        assert_eq!(index.matches("").count(), 0);
    }

    #[test]
    fn invalid_utf8_ends_a_word() {
        let dir =
            std::env::temp_dir().join(format!("pprocess-indexer-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("latin1.txt");
        std::fs::write(&path, b"caf\xe9 na\xc3\xafve\n\xff\xfe tail").unwrap();
        let found = read_words(&path);
        let missing = read_words(&dir.join("missing"));
        std::fs::remove_dir_all(&dir).unwrap();
        let found: Vec<String> = found.unwrap().into_iter().collect();
        assert_eq!(found, ["caf", "naïve", "tail"]);
        assert_eq!(missing.unwrap_err().kind(), io::ErrorKind::NotFound);
    }
}
