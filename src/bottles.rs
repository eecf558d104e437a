//! The work of the `bottles` examples, laid out as in the originals:
//! following growing files as `tail -f` does, and picking the lines that
//! match patterns as `grep` does, with two levels of continuous processes.
//!
//! The creator's outer continuous queue ([`matches`])
//! [manages](pprocess::Queue::manage) the multigrep function, called once
//! per pattern of [`PATTERNS`]. Each multigrep process has an inner
//! continuous queue of its own that manages the follow function, called
//! once per file: a follow process starts at the end of its file and sends
//! every line written to it from then on. The multigrep process sends on
//! the lines that contain its pattern, so a line that contains two patterns
//! arrives twice. When a file is removed, its follow processes read what is
//! left and end; once every file is gone, every process has ended and the
//! program ends.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pprocess::{Channel, Queue};

/// The patterns grepped for, one multigrep process each: a line is printed
/// once for each of them it contains (case-sensitive).
pub const PATTERNS: [&str; 3] = ["pants", "trousers", "shorts"];

/// How often a follow process looks for new lines once it has read
/// everything (as `tail -f` does, without relying on file system events).
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The files to follow: the paths given, or `test`, `test2` and `test3` in
/// the system temporary directory, as in the originals. Files that do not
/// exist are created empty, so they can be followed.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("bottles-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let files = pprocess_examples::bottles::files(vec![dir.join("a.log")])?;
/// assert!(files[0].exists());
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn files(paths: Vec<PathBuf>) -> io::Result<Vec<PathBuf>> {
    let paths = if paths.is_empty() {
        ["test", "test2", "test3"]
            .iter()
            .map(|name| std::env::temp_dir().join(name))
            .collect()
    } else {
        paths
    };
    for path in &paths {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
    }
    Ok(paths)
}

/// The outer queue of the `bottles` programs: a continuous queue with a
/// [`multigrep`] process per pattern of [`PATTERNS`], following `files`.
/// It yields every matching line, once per pattern it contains.
///
/// The queue ends once every process has ended: once the files are gone.
///
/// ```
/// let file = std::env::temp_dir().join(format!("bottles-doc-{}.log", std::process::id()));
/// let files = pprocess_examples::bottles::files(vec![file.clone()])?;
/// let matches = pprocess_examples::bottles::matches(&files);
/// std::fs::remove_file(&file)?; // nothing was written: no match, and the end
/// assert_eq!(matches.count(), 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn matches(files: &[PathBuf]) -> Queue<'_, String> {
    let mut queue = Queue::new().limit(PATTERNS.len()).continuous(true);
    let mut grep =
        queue.manage(|channel: &mut Channel, pattern: &str| multigrep(channel, pattern, files));
    for pattern in PATTERNS {
        grep.call(pattern);
    }
    queue
}

/// A multigrep process: follows every file of `files` through an inner
/// continuous queue managing [`follow`], and sends each line that contains
/// `pattern`.
fn multigrep(channel: &mut Channel, pattern: &str, files: &[PathBuf]) -> pprocess::Result<()> {
    let mut lines: Queue<String> = Queue::new().limit(files.len()).continuous(true);
    let mut multifollow = lines.manage(|channel: &mut Channel, path: &Path| follow(channel, path));
    for path in files {
        multifollow.call(path.as_path());
    }
    for line in lines {
        let line = line?;
        if line.contains(pattern) {
            channel.send(&line)?;
        }
    }
    Ok(())
}

/// A follow process: starts at the end of the file at `path` and sends
/// each line written to it from then on, without its line end; ends once
/// the file has been removed (perhaps before it could be opened) and
/// everything written to it has been read.
fn follow(channel: &mut Channel, path: &Path) -> pprocess::Result<()> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(io_error("open", error)),
    };
    file.seek(SeekFrom::End(0))
        .map_err(|error| io_error("seek", error))?;
    let mut pending = Vec::new();
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let read = file
            .read(&mut buffer)
            .map_err(|error| io_error("read", error))?;
        if read > 0 {
            pending.extend_from_slice(&buffer[..read]);
            send_lines(channel, &mut pending)?;
            continue;
        }
        if !path.exists() {
            // Removed: what was written before is readable through our
            // descriptor; read it all, then stop.
            file.read_to_end(&mut pending)
                .map_err(|error| io_error("read", error))?;
            send_lines(channel, &mut pending)?;
            if !pending.is_empty() {
                channel.send(&String::from_utf8_lossy(&pending))?;
            }
            return Ok(());
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Sends each whole line at the front of `pending` and removes it.
fn send_lines(channel: &mut Channel, pending: &mut Vec<u8>) -> pprocess::Result<()> {
    let mut start = 0;
    while let Some(end) = pending[start..].iter().position(|&byte| byte == b'\n') {
        let line = &pending[start..start + end];
        channel.send(&String::from_utf8_lossy(line))?;
        start += end + 1;
    }
    pending.drain(..start);
    Ok(())
}

fn io_error(operation: &'static str, source: io::Error) -> pprocess::Error {
    pprocess::Error::Io { operation, source }
}
