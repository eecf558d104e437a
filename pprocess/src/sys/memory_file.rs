//! Memory files for large messages: a memory file (`memfd`) the sender
//! fills and passes with `SCM_RIGHTS`, sealed against any change, or, for
//! a region the sender reuses, against shrinking; the receiver maps it
//! read-only (and a region's header page read-write, for its free word).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::AtomicU32;

use nix::libc;

use super::page_size;

/// A mapping of a memory file, unmapped when dropped.
pub(crate) struct Mapping {
    start: NonNull<u8>,
    length: usize,
}

impl Mapping {
    /// Maps `length` bytes (not 0) of `fd` from `offset` (a multiple of
    /// the page size), shared.
    fn new(
        fd: BorrowedFd<'_>,
        offset: usize,
        length: usize,
        writable: bool,
    ) -> io::Result<Mapping> {
        let protection = if writable {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        let offset = libc::off_t::try_from(offset)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // Its pages in one call rather than a fault each: it is about to
        // be written or read whole.
        let flags = libc::MAP_SHARED | libc::MAP_POPULATE;
        // SAFETY: a new mapping at an address the kernel picks; it aliases
        // no Rust object, and `Drop` unmaps exactly this range.
        let start = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                length,
                protection,
                flags,
                fd.as_raw_fd(),
                offset,
            )
        };
        if start == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let start =
            NonNull::new(start.cast()).ok_or_else(|| io::Error::from(io::ErrorKind::Other))?;
        Ok(Mapping { start, length })
    }

    /// The first word of the mapping, as every process that maps the same
    /// page sees it.
    pub(crate) fn word(&self) -> &AtomicU32 {
        // SAFETY: a mapping starts at a page boundary (aligned for any
        // word) and is at least one byte long, so at least a page: the
        // word is mapped for as long as `self` lives. Every process
        // touches it only atomically, through this function.
        unsafe { &*self.start.as_ptr().cast::<AtomicU32>() }
    }

    /// The mapped bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: `length` bytes are mapped readable at `start` for as long
        // as `self` lives, and a file sealed against shrinking cannot be
        // cut under it. Another process writes a region's pages only while
        // its reader holds no slice of them (the protocol of
        // `channel::region`); one that broke it could change bytes, any
        // value of which is a valid `u8`, and nothing decodes from them
        // in place. A writable mapping is only written through
        // `bytes_mut`, which borrows `self` mutably.
        unsafe { std::slice::from_raw_parts(self.start.as_ptr(), self.length) }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`; mappings made by `MemoryFile` are
        // writable, and the borrow of `self` is exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.start.as_ptr(), self.length) }
    }
}

// SAFETY: a `Mapping` owns its range as a `Vec<u8>` owns its buffer: it
// is unmapped once, by its owner's `Drop`, and read through `&self` or
// written through `&mut self` only; no thread-local state is involved.
unsafe impl Send for Mapping {}
// SAFETY: as above; `&Mapping` gives only reads.
unsafe impl Sync for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the range was mapped by `Mapping::new` (or moved by
        // `mremap`) with this length, and no slice of it outlives `self`.
        unsafe { libc::munmap(self.start.as_ptr().cast(), self.length) };
    }
}

/// A memory file being written, mapped read-write from `offset`, that
/// can grow.
pub(crate) struct MemoryFile {
    fd: OwnedFd,
    mapping: Mapping,
    offset: usize,
}

/// The seals that make a memory file unchangeable by anyone.
const SEALS: i32 = libc::F_SEAL_WRITE | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW;

/// The seal a reused memory file has from the start: it may grow and be
/// written, but a mapping of it can never lose its pages (which would
/// make reading them raise `SIGBUS`).
const REGION_SEALS: i32 = libc::F_SEAL_SHRINK;

/// A new memory file, empty, that can be sealed.
fn memory_file() -> io::Result<OwnedFd> {
    // SAFETY: the name is a NUL-terminated string, the flags are valid.
    let raw = unsafe {
        libc::memfd_create(
            c"pprocess-message".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `memfd_create` returned a new descriptor owned by nothing
    // else.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn add_seals(fd: BorrowedFd<'_>, seals: i32) -> io::Result<()> {
    // SAFETY: `fcntl` with `F_ADD_SEALS` takes an integer argument.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether `fd` is a memory file with all of `seals`.
fn has_seals(fd: BorrowedFd<'_>, seals: i32) -> bool {
    // SAFETY: `fcntl` with `F_GET_SEALS` takes no argument.
    let held = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    held >= 0 && held & seals == seals
}

impl MemoryFile {
    /// A new memory file of `capacity` bytes (not 0), mapped, its pages
    /// allocated.
    pub(crate) fn new(capacity: usize) -> io::Result<MemoryFile> {
        let fd = memory_file()?;
        resize(fd.as_fd(), capacity)?;
        let mapping = Mapping::new(fd.as_fd(), 0, capacity, true)?;
        Ok(MemoryFile {
            fd,
            mapping,
            offset: 0,
        })
    }

    /// A new memory file to be reused: a header page, mapped read-write
    /// and returned beside it, then `capacity` bytes (not 0), which the
    /// `MemoryFile` maps. It is sealed against shrinking.
    pub(crate) fn region(capacity: usize) -> io::Result<(MemoryFile, Mapping)> {
        let fd = memory_file()?;
        let page = page_size();
        resize(fd.as_fd(), page + capacity)?;
        add_seals(fd.as_fd(), REGION_SEALS)?;
        let header = Mapping::new(fd.as_fd(), 0, page, true)?;
        let mapping = Mapping::new(fd.as_fd(), page, capacity, true)?;
        let file = MemoryFile {
            fd,
            mapping,
            offset: page,
        };
        Ok((file, header))
    }

    /// The memory file, to pass.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The mapped bytes, all of the capacity.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        self.mapping.bytes_mut()
    }

    /// Makes the mapping writable, or read-only: a stray write into a
    /// read-only one faults rather than changing what a reader reads.
    pub(crate) fn protect(&mut self, writable: bool) -> io::Result<()> {
        let protection = if writable {
            nix::sys::mman::ProtFlags::PROT_READ | nix::sys::mman::ProtFlags::PROT_WRITE
        } else {
            nix::sys::mman::ProtFlags::PROT_READ
        };
        // SAFETY: the range is exactly the mapping `self` owns; while it is
        // read-only no `&mut` to it exists (`bytes_mut` borrows `self`).
        unsafe {
            nix::sys::mman::mprotect(self.mapping.start.cast(), self.mapping.length, protection)
        }
        .map_err(io::Error::from)
    }

    /// Grows the file and its mapping to `capacity` bytes, keeping what
    /// they hold (the mapping may move); nothing if they hold as much
    /// already.
    pub(crate) fn grow(&mut self, capacity: usize) -> io::Result<()> {
        if capacity <= self.mapping.length {
            return Ok(());
        }
        resize(self.fd.as_fd(), self.offset + capacity)?;
        // SAFETY: remaps exactly the range `self.mapping` owns, letting the
        // kernel move it; on success the old range is gone and `mapping`
        // is updated to the new one, on failure the old one stays.
        let moved = unsafe {
            libc::mremap(
                self.mapping.start.as_ptr().cast(),
                self.mapping.length,
                capacity,
                libc::MREMAP_MAYMOVE,
            )
        };
        if moved == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        self.mapping.start =
            NonNull::new(moved.cast()).ok_or_else(|| io::Error::from(io::ErrorKind::Other))?;
        self.mapping.length = capacity;
        Ok(())
    }

    /// Cuts the file (made by [`new`](Self::new)) to its first `length`
    /// bytes, unmaps it and seals it against writing, shrinking and
    /// growing: the descriptor to pass.
    pub(crate) fn seal(self, length: usize) -> io::Result<OwnedFd> {
        let MemoryFile { fd, mapping, .. } = self;
        // Sealing against writes fails while a writable mapping exists.
        drop(mapping);
        resize(fd.as_fd(), length)?;
        add_seals(fd.as_fd(), SEALS)?;
        Ok(fd)
    }
}

fn resize(fd: BorrowedFd<'_>, length: usize) -> io::Result<()> {
    let length = i64::try_from(length).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    nix::unistd::ftruncate(fd, length).map_err(io::Error::from)
}

/// Maps the memory file `fd` read-only, after checking that it is sealed
/// against writing, shrinking and growing, and that it holds exactly
/// `length` bytes (not 0): otherwise an `InvalidData` error.
pub(crate) fn map_sealed(fd: BorrowedFd<'_>, length: usize) -> io::Result<Mapping> {
    if !has_seals(fd, SEALS) {
        return Err(invalid_data(
            "the shared memory of a message is not sealed".into(),
        ));
    }
    let size = file_size(fd)?;
    if length == 0 || size != length {
        return Err(invalid_data(format!(
            "shared memory of {size} bytes announced as {length}"
        )));
    }
    Mapping::new(fd, 0, length, false)
}

/// Maps the header page of the reused memory file `fd` read-write, after
/// checking that it is sealed against shrinking and holds more than the
/// header: otherwise an `InvalidData` error.
pub(crate) fn map_region_header(fd: BorrowedFd<'_>) -> io::Result<Mapping> {
    if !has_seals(fd, REGION_SEALS) {
        return Err(invalid_data(
            "a shared region that may shrink under its reader".into(),
        ));
    }
    if file_size(fd)? <= page_size() {
        return Err(invalid_data("a shared region with no room".into()));
    }
    Mapping::new(fd, 0, page_size(), true)
}

/// Maps the first `length` bytes (rounded up to whole pages) of the
/// reused memory file `fd` after its header page, read-only, if it holds
/// them: otherwise an `InvalidData` error. Its seal was checked by
/// [`map_region_header`]. What lies beyond stays unmapped: a file grown
/// large but empty costs its reader nothing.
pub(crate) fn map_region_data(fd: BorrowedFd<'_>, length: usize) -> io::Result<Mapping> {
    let room = file_size(fd)?.saturating_sub(page_size());
    if room < length.max(1) {
        return Err(invalid_data(format!(
            "a message of {length} bytes announced in a shared region of {room}"
        )));
    }
    let mapped = length.max(1).next_multiple_of(page_size()).min(room);
    Mapping::new(fd, page_size(), mapped, false)
}

fn invalid_data(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

fn file_size(fd: BorrowedFd<'_>) -> io::Result<usize> {
    let size = nix::sys::stat::fstat(fd).map_err(io::Error::from)?.st_size;
    usize::try_from(size).map_err(|_| invalid_data(format!("a file of {size} bytes")))
}
