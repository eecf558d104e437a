//! The functions a worker rank can run, by name: each non-generic
//! function under `#[parallel]` or `#[reusable]` whose arguments are
//! owned registers an [`Entry`] at link time (through `inventory`), so
//! every rank built from the same code has the same registry, sorted by
//! name, and a task names its function by its place there.

use std::hash::{DefaultHasher, Hasher};
use std::io::Read;
use std::marker::PhantomData;
use std::sync::OnceLock;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::mpi::wire::{Failure, ResultHeader};
use crate::wire::codec;

/// One function a worker rank can run: what the attributes register.
pub struct Entry {
    /// The function's path (`module::path::name`).
    name: &'static str,
    /// Its argument and result types, for the build fingerprint.
    signature: fn() -> &'static str,
    /// Runs it on encoded arguments: returns [`ResultHeader::SIZE`] bytes
    /// of room for the header, then the encoded `Result<T, Failure>`.
    run: fn(&[u8]) -> Vec<u8>,
}

impl Entry {
    /// The entry of the function `name`.
    pub const fn new(
        name: &'static str,
        signature: fn() -> &'static str,
        run: fn(&[u8]) -> Vec<u8>,
    ) -> Self {
        Entry {
            name,
            signature,
            run,
        }
    }
}

inventory::collect!(Entry);

/// Every registered function, sorted by name.
fn entries() -> &'static [&'static Entry] {
    static SORTED: OnceLock<Vec<&'static Entry>> = OnceLock::new();
    SORTED.get_or_init(|| {
        let mut entries: Vec<&'static Entry> = inventory::iter::<Entry>.into_iter().collect();
        entries.sort_by_key(|entry| entry.name);
        entries
    })
}

/// The place of the function `name` in the registry.
pub(crate) fn index_of(name: &str) -> Option<u32> {
    let index = entries()
        .binary_search_by_key(&name, |entry| entry.name)
        .ok()?;
    u32::try_from(index).ok()
}

/// Runs registered function number `entry` on the encoded `args`: the
/// header room and the encoded result, or a failure if there is no such
/// function.
pub(crate) fn run(entry: u32, args: &[u8]) -> Vec<u8> {
    match entries().get(entry as usize) {
        Some(entry) => (entry.run)(args),
        None => encode_outcome::<()>(Err(Failure::Other(format!(
            "no function number {entry} is registered"
        )))),
    }
}

/// The header room, then `outcome` encoded.
pub(crate) fn encode_outcome<T: Serialize>(outcome: std::result::Result<&T, Failure>) -> Vec<u8> {
    let mut out = vec![0; ResultHeader::SIZE];
    if let Err(error) = codec::encode_into(&outcome, &mut out) {
        out.truncate(ResultHeader::SIZE);
        let failure: std::result::Result<(), Failure> = Err(Failure::from(error));
        // A failure of strings and integers always encodes.
        let _ = codec::encode_into(&failure, &mut out);
    }
    out
}

/// A fingerprint of this build: the registry's names and signatures, and
/// the executable's bytes. Ranks that agree on it run the same code.
pub(crate) fn fingerprint() -> Result<u64> {
    let mut hasher = DefaultHasher::new();
    for entry in entries() {
        hasher.write(entry.name.as_bytes());
        hasher.write_u8(0);
        hasher.write((entry.signature)().as_bytes());
        hasher.write_u8(0);
    }
    let path = std::env::current_exe().map_err(|error| Error::io("current_exe", error))?;
    let mut file =
        std::fs::File::open(&path).map_err(|error| Error::address("open", &path, error))?;
    let mut chunk = vec![0; 1 << 16];
    loop {
        match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(read) => hasher.write(&chunk[..read]),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(Error::address("read", &path, error)),
        }
    }
    Ok(hasher.finish())
}

/// The signature an entry records: its argument and result types.
pub fn signature<A, T>() -> &'static str {
    std::any::type_name::<fn(A) -> T>()
}

/// Picks how a registered function runs from its types, with method
/// resolution through auto-reference: [`Decodes`] when its arguments
/// deserialize, [`DoesNotDecode`] (a failure at run time) otherwise, so
/// that registering a function never adds a compile error to it.
pub struct Probe<A, T>(PhantomData<fn(A) -> T>);

impl<A, T> Probe<A, T> {
    /// The probe for arguments `A` and result `T`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Probe(PhantomData)
    }
}

/// How a function whose arguments deserialize runs on a worker rank.
pub trait Decodes<A, T> {
    /// Decodes `args`, calls `function`, encodes its result.
    fn run(&self, args: &[u8], function: impl Fn(A) -> T) -> Vec<u8>;
}

impl<A: DeserializeOwned, T: Serialize> Decodes<A, T> for Probe<A, T> {
    fn run(&self, args: &[u8], function: impl Fn(A) -> T) -> Vec<u8> {
        match codec::decode::<A>(args) {
            Ok(args) => encode_outcome(Ok(&function(args))),
            Err(error) => encode_outcome::<T>(Err(Failure::from(error))),
        }
    }
}

/// How a function whose arguments do not deserialize "runs" on a worker
/// rank: it cannot be sent there (its `pmap_on` does not compile), so this
/// is never called by pprocess.
pub trait DoesNotDecode<A, T> {
    /// A failure saying the arguments do not deserialize.
    fn run(&self, args: &[u8], function: impl Fn(A) -> T) -> Vec<u8>;
}

impl<A, T> DoesNotDecode<A, T> for &Probe<A, T> {
    fn run(&self, _args: &[u8], _function: impl Fn(A) -> T) -> Vec<u8> {
        encode_outcome::<()>(Err(Failure::Other(format!(
            "the arguments {} do not deserialize",
            std::any::type_name::<A>()
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_outcome<T: DeserializeOwned>(bytes: &[u8]) -> std::result::Result<T, Failure> {
        codec::decode(&bytes[ResultHeader::SIZE..]).unwrap()
    }

    #[test]
    #[allow(clippy::needless_borrow)] // the borrow picks the method
    fn a_probe_runs_a_function_whose_arguments_decode_and_fails_one_whose_do_not() {
        let mut args = Vec::new();
        codec::encode_into(&(3u32, 4u32), &mut args).unwrap();
        let out = (&Probe::<(u32, u32), u32>::new()).run(&args, |(i, j)| i * 10 + j);
        assert_eq!(decode_outcome::<u32>(&out).unwrap(), 34);

        struct Opaque;
        let out = (&Probe::<Opaque, u32>::new()).run(&args, |_| 0);
        assert!(
            matches!(decode_outcome::<u32>(&out), Err(Failure::Other(m)) if m.contains("Opaque"))
        );

        let out = (&Probe::<u64, u32>::new()).run(&[0xff, 0xff], |_| 0);
        assert!(matches!(
            decode_outcome::<u32>(&out),
            Err(Failure::Other(_))
        ));
    }

    #[test]
    fn an_unknown_entry_is_a_failure_and_the_fingerprint_is_stable() {
        let out = run(u32::MAX, &[]);
        assert!(matches!(
            decode_outcome::<u32>(&out),
            Err(Failure::Other(_))
        ));
        assert_eq!(fingerprint().unwrap(), fingerprint().unwrap());
    }
}
