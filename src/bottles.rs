//! The work of the `bottles` examples: following growing files, as
//! `tail -f` does, and picking the lines that mention bottles, as `grep`
//! does.
//!
//! Each followed file gets two processes, each a continuous task of a
//! queue: a *follow* process reads the file and sends every line, and a
//! *grep* process, which created it, keeps the lines that contain
//! [`PATTERN`] and sends them on to the creator, whose outer queue (or
//! exchange) gathers the matches of every file. A file is read from its
//! beginning, then followed as it grows; when it is removed, its processes
//! read what is left and end, and the program ends once every file is gone.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pprocess::{Channel, Queue};

/// The lines printed are those that contain this text (case-sensitive).
pub const PATTERN: &str = "bottle";

/// How often a follow process looks for new lines once it has read
/// everything (as `tail -f` does, without relying on file system events).
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// A match: the file (as given) and the line, without its newline.
pub type Match = (String, String);

/// The files to follow: the paths given, or `bottles-1.txt` to
/// `bottles-3.txt` in the system temporary directory. Files that do not
/// exist are created empty, so they can be followed.
pub fn files(paths: Vec<PathBuf>) -> io::Result<Vec<PathBuf>> {
    let paths = if paths.is_empty() {
        (1..=3)
            .map(|n| std::env::temp_dir().join(format!("bottles-{n}.txt")))
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

/// The grep process of `path`: starts its follow process on an inner
/// queue, and sends each line from it that contains [`PATTERN`] as a
/// [`Match`].
pub fn grep(channel: &mut Channel, path: &Path) -> pprocess::Result<()> {
    let mut lines: Queue<String> = Queue::new().continuous(true);
    lines.start(|channel| follow(channel, path));
    let name = path.display().to_string();
    for line in lines {
        let line = line?;
        if line.contains(PATTERN) {
            channel.send(&(&name, &line))?;
        }
    }
    Ok(())
}

/// The follow process of `path`: sends each line of the file, from the
/// beginning, as it is written; ends once the file has been removed and
/// everything written to it has been read.
fn follow(channel: &mut Channel, path: &Path) -> pprocess::Result<()> {
    let mut file = File::open(path).map_err(|error| io_error("open", error))?;
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
            loop {
                let read = file
                    .read(&mut buffer)
                    .map_err(|error| io_error("read", error))?;
                if read == 0 {
                    break;
                }
                pending.extend_from_slice(&buffer[..read]);
            }
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
