//! Addresses: the socket files at which persistent channels listen.
//!
//! An address is a file system path. This module owns everything done to
//! the files at those paths: checking an address before listening at it,
//! making the socket file (owner-only, and only ever appearing at the
//! address already listening), connecting to it, and removing it. It never
//! removes a file that is not a socket, nor a socket that a live process is
//! listening on, nor a socket file that is not the one it made.
//!
//! Making a socket file, step by step:
//!
//! 1. The address must fit in a socket path ([`Error::AddressTooLong`]:
//!    the address itself is what peers connect to), and its directory
//!    must exist ([`Error::MissingDirectory`]).
//! 2. Whatever is at the address is checked: nothing is fine; a file that
//!    is not a socket is an [`Error::NotASocket`] (and is left alone); a
//!    socket that accepts a connection is an [`Error::AddressInUse`]; a
//!    socket that refuses one is stale (its process is gone) and removed.
//! 3. A private directory (mode 0700) is made next to the address, and the
//!    socket is bound and listening in it, then made owner-only (0600):
//!    `bind` creates the file with the umask's permissions, so it must not
//!    be reachable by others until `chmod` has run. `bind` takes a path of
//!    at most [`sys::SOCKET_PATH_LIMIT`] bytes, and the staging path is
//!    longer than the address when the address's file name is short; so,
//!    when the staging path does not fit, the socket is bound through the
//!    private directory's descriptor instead (`/proc/self/fd/N/s` on
//!    Linux: the kernel resolves the directory from the descriptor, so
//!    the path is short whatever the directory's). Any address a plain
//!    `bind` accepts therefore works; elsewhere than Linux, an address
//!    within a dozen bytes of the limit may fail at `bind`.
//! 4. The socket file is hard-linked to the address. Unlike `rename`, a
//!    link never replaces what is there: if something appeared at the
//!    address since step 2, the link fails and step 2 runs again, so a file
//!    created meanwhile is never removed. The private directory is then
//!    removed.

use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nix::libc;

use crate::error::{Error, Result, directory_of};
use crate::process::fork;
use crate::sys;

/// How often a link that lost a race (something appeared at the address)
/// is retried before the error is returned.
const LINK_ATTEMPTS: usize = 3;

/// A socket file this process made at an address.
#[derive(Debug)]
pub(crate) struct SocketFile {
    path: PathBuf,
    /// Device and inode of the file, to recognise it later.
    identity: (u64, u64),
}

impl SocketFile {
    /// The address.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the socket file, if the file at the address is still the
    /// one this module made (not a successor's).
    pub(crate) fn remove(&self) {
        if let Ok(metadata) = fs::symlink_metadata(&self.path) {
            if (metadata.dev(), metadata.ino()) == self.identity {
                let _ = fs::remove_file(&self.path);
            }
        }
    }
}

/// Makes an owner-only socket file at `path`, listening, as the module
/// documentation describes. Returns the listening socket (recorded as a
/// channel end, so created processes do not inherit it) and the file.
pub(crate) fn listen(path: &Path) -> Result<(OwnedFd, SocketFile)> {
    check_length(path)?;
    let directory = directory_of(path);
    match fs::metadata(directory) {
        Ok(metadata) if metadata.is_dir() => {}
        Ok(_) => return Err(missing_directory(path)),
        Err(error)
            if error.kind() == io::ErrorKind::NotFound
                || error.raw_os_error() == Some(libc::ENOTDIR) =>
        {
            return Err(missing_directory(path));
        }
        Err(error) => return Err(Error::address("stat", directory, error)),
    }
    clear(path)?;
    let private = PrivateDirectory::create(directory)?;
    let listener = fork::open_tracked(|| sys::unix_socket(false))
        .map_err(|error| Error::address("socket", path, error))?;
    match place(&listener, &private, path) {
        Ok(file) => Ok((listener, file)),
        Err(error) => {
            fork::close_channel(listener);
            Err(error)
        }
    }
}

/// Binds `listener` in the private directory, makes it owner-only, and
/// links it to `path`.
fn place(listener: &OwnedFd, private: &PrivateDirectory, path: &Path) -> Result<SocketFile> {
    let staged = private.path.join("s");
    // Errors name the address the caller asked for, not the private path.
    private
        .bind(listener, &staged)
        .map_err(|error| Error::address("bind", path, error))?;
    let staged = staged.as_path();
    fs::set_permissions(staged, fs::Permissions::from_mode(0o600))
        .map_err(|error| Error::address("chmod", path, error))?;
    let metadata =
        fs::symlink_metadata(staged).map_err(|error| Error::address("stat", path, error))?;
    let mut attempt = 1;
    loop {
        match fs::hard_link(staged, path) {
            Ok(()) => break,
            Err(error)
                if error.kind() == io::ErrorKind::AlreadyExists && attempt < LINK_ATTEMPTS =>
            {
                attempt += 1;
                clear(path)?;
            }
            Err(error) => return Err(Error::address("link", path, error)),
        }
    }
    Ok(SocketFile {
        path: path.to_owned(),
        identity: (metadata.dev(), metadata.ino()),
    })
}

/// Makes sure nothing is at `path`: removes a stale socket; a live one, or
/// a file that is not a socket, is an error.
fn clear(path: &Path) -> Result<()> {
    let metadata = match fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(Error::address("stat", path, error)),
    };
    if !metadata.file_type().is_socket() {
        return Err(Error::NotASocket {
            path: path.to_owned(),
        });
    }
    match probe(path) {
        // Accepted, or a backlog so full that it would wait: alive.
        Ok(()) => Err(Error::AddressInUse {
            path: path.to_owned(),
        }),
        Err(error) if error.raw_os_error() == Some(libc::EAGAIN) => Err(Error::AddressInUse {
            path: path.to_owned(),
        }),
        Err(error) if error.raw_os_error() == Some(libc::ECONNREFUSED) => {
            // Stale: remove that file (and only that one).
            if let Ok(now) = fs::symlink_metadata(path) {
                if (now.dev(), now.ino()) == (metadata.dev(), metadata.ino()) {
                    match fs::remove_file(path) {
                        Ok(()) => {}
                        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                        Err(error) => {
                            return Err(Error::address("remove stale socket", path, error));
                        }
                    }
                }
            }
            Ok(())
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(Error::address("connect", path, error)),
    }
}

/// An address longer than a socket path holds is an error: nobody could
/// ever connect to it.
fn check_length(path: &Path) -> Result<()> {
    if path.as_os_str().len() > sys::SOCKET_PATH_LIMIT {
        return Err(Error::AddressTooLong {
            path: path.to_owned(),
            limit: sys::SOCKET_PATH_LIMIT,
        });
    }
    Ok(())
}

/// Tries to connect to `path` without waiting, and hangs up at once.
fn probe(path: &Path) -> io::Result<()> {
    let socket = fork::open_tracked(|| sys::unix_socket(true))?;
    let connected = sys::connect_unix(socket.as_fd(), path);
    fork::close_channel(socket);
    connected
}

/// Connects to the process listening at `path`. Returns the connected
/// socket, recorded as a channel end, and the listener's process id (`-1`
/// where the system cannot tell). Nothing listening is an error at
/// once, never a wait: [`Error::NoListener`] (no file, or a stale socket),
/// or [`Error::NotASocket`]. A listener of another user is
/// [`Error::ForeignListener`], and nothing is read from it. With a
/// `timeout`, the connection waits at most that long for room in the
/// listener's backlog ([`Error::PeerTimeout`]), and each receive on the
/// socket returned waits at most that long (it fails with `EAGAIN`).
pub(crate) fn connect(path: &Path, timeout: Option<Duration>) -> Result<(OwnedFd, i32)> {
    check_length(path)?;
    let socket = fork::open_tracked(|| sys::unix_socket(false))
        .map_err(|error| Error::address("socket", path, error))?;
    let connected = match timeout {
        None => sys::connect_unix(socket.as_fd(), path),
        // The send timeout bounds the connection, the receive timeout the
        // reads after it (a send that timed out could leave half a frame).
        Some(_) => sys::set_timeouts(socket.as_fd(), None, timeout)
            .and_then(|()| sys::connect_unix(socket.as_fd(), path))
            .and_then(|()| sys::set_timeouts(socket.as_fd(), timeout, None)),
    };
    let error = match connected {
        Ok(()) => match check_listener(&socket, path, sys::effective_uid()) {
            Ok(pid) => return Ok((socket, pid)),
            Err(refused) => {
                fork::close_channel(socket);
                return Err(refused);
            }
        },
        Err(error) => error,
    };
    fork::close_channel(socket);
    Err(match (error.raw_os_error(), timeout) {
        (Some(libc::EAGAIN), Some(after)) => Error::PeerTimeout { pid: -1, after },
        (Some(libc::ECONNREFUSED | libc::ENOENT | libc::ENOTDIR), _) => {
            match fs::symlink_metadata(path) {
                Ok(metadata) if !metadata.file_type().is_socket() => Error::NotASocket {
                    path: path.to_owned(),
                },
                _ => Error::NoListener {
                    path: path.to_owned(),
                },
            }
        }
        _ => Error::address("connect", path, error),
    })
}

/// Refuses a listener that does not run as user `uid` (this process's
/// effective user): another local user who made a socket at the address
/// could otherwise deny service or forge results. Where the system cannot
/// tell who listens, the check is not made. Returns the listener's process
/// id.
fn check_listener(socket: &OwnedFd, path: &Path, uid: u32) -> Result<i32> {
    let peer = sys::peer_credentials(socket.as_fd())
        .map_err(|error| Error::address("getsockopt SO_PEERCRED", path, error))?;
    match peer.uid {
        Some(listener) if listener != uid => Err(Error::ForeignListener {
            path: path.to_owned(),
            uid: listener,
        }),
        _ => Ok(peer.pid),
    }
}

fn missing_directory(path: &Path) -> Error {
    Error::MissingDirectory {
        path: path.to_owned(),
    }
}

/// A directory only this user can enter, removed (with what is left in it)
/// when dropped.
struct PrivateDirectory {
    path: PathBuf,
}

impl PrivateDirectory {
    /// Makes a new private directory in `parent`.
    fn create(parent: &Path) -> Result<Self> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        loop {
            let number = COUNTER.fetch_add(1, Ordering::Relaxed);
            // Short, so the socket path in it is hardly longer than the
            // address (see `bind`).
            let path = parent.join(format!(".pp{}-{number}", std::process::id()));
            match fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => {
                    let directory = PrivateDirectory { path };
                    // The umask may have taken bits away: set them exactly.
                    fs::set_permissions(&directory.path, fs::Permissions::from_mode(0o700))
                        .map_err(|error| Error::address("chmod", &directory.path, error))?;
                    return Ok(directory);
                }
                // Left behind by an earlier process with our id.
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
                Err(error) => return Err(Error::address("mkdir", &path, error)),
            }
        }
    }
}

impl PrivateDirectory {
    /// Binds `listener` at `staged`, a path in this directory, and listens:
    /// at `staged` itself if it fits in a socket path, else through this
    /// directory's descriptor (Linux), which makes the path short.
    fn bind(&self, listener: &OwnedFd, staged: &Path) -> io::Result<()> {
        if staged.as_os_str().len() <= sys::SOCKET_PATH_LIMIT || !cfg!(target_os = "linux") {
            return sys::bind_and_listen(listener.as_fd(), staged);
        }
        let directory = fork::open_tracked(|| fs::File::open(&self.path).map(OwnedFd::from))?;
        let short = PathBuf::from(format!("/proc/self/fd/{}/s", directory.as_raw_fd()));
        let bound = sys::bind_and_listen(listener.as_fd(), &short);
        fork::close_channel(directory);
        bound
    }
}

impl Drop for PrivateDirectory {
    fn drop(&mut self) {
        let _ = fs::remove_file(self.path.join("s"));
        let _ = fs::remove_dir(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_of_another_user_is_refused() {
        let address = std::env::temp_dir().join(format!("pp-foreign-{}", std::process::id()));
        let _ = fs::remove_file(&address);
        let _listener = std::os::unix::net::UnixListener::bind(&address).unwrap();
        let socket = sys::unix_socket(false).unwrap();
        sys::connect_unix(socket.as_fd(), &address).unwrap();
        let own = sys::effective_uid();
        assert_eq!(
            check_listener(&socket, &address, own).unwrap(),
            std::process::id() as i32
        );
        let refused = check_listener(&socket, &address, own.wrapping_add(1)).unwrap_err();
        assert!(
            matches!(&refused, Error::ForeignListener { path, uid } if path == &address && *uid == own),
            "{refused:?}"
        );
        fs::remove_file(&address).unwrap();
    }
}
