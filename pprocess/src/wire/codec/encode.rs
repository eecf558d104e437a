//! The serde serializer of our wire format (see [`super`] for the layout).
//!
//! A sequence of bytes or floats (`Vec<u8>`, `[f64]`, ...) is written as
//! one block: serde hands its elements over one at a time, so
//! [`Serializer::collect_seq`] looks at the iterator it is given and, when
//! it walks a slice of such numbers, writes the slice whole.

use serde::Serialize;
use serde::ser;

use super::CodecError;
use crate::sys;

/// Where an encoding goes.
pub(crate) trait Output {
    /// Appends `bytes`.
    fn put(&mut self, bytes: &[u8]);

    /// Appends `bytes`, a block that ends the encoding: nothing is put
    /// after it.
    fn put_last(&mut self, bytes: &[u8]) {
        self.put(bytes);
    }
}

impl Output for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Serializes a value into an [`Output`].
pub(crate) struct Encoder<'o, O: Output> {
    out: &'o mut O,
    /// Whether a compound value (a struct, a tuple, a sequence element by
    /// element, a map) has begun: until then, a block is the whole value
    /// but a prefix, and ends the encoding.
    compound: bool,
}

type Result<T = ()> = std::result::Result<T, CodecError>;

impl<'o, O: Output> Encoder<'o, O> {
    /// An encoder of one value into `out`.
    pub(crate) fn new(out: &'o mut O) -> Self {
        Encoder {
            out,
            compound: false,
        }
    }

    /// A block of bytes after its length: the encoding's last bytes if
    /// no compound value has begun.
    fn block(&mut self, count: usize, bytes: &[u8]) {
        self.unsigned(count as u128);
        if self.compound {
            self.out.put(bytes);
        } else {
            self.out.put_last(bytes);
        }
    }

    /// Notes that a compound value begins.
    fn compound(&mut self) -> &mut Self {
        self.compound = true;
        self
    }

    /// An unsigned integer: one byte below 251, else a tag byte (251 to
    /// 254) and 2, 4, 8 or 16 little-endian bytes.
    fn unsigned(&mut self, value: u128) {
        if value < 251 {
            self.out.put(&[value as u8]);
        } else if let Ok(value) = u16::try_from(value) {
            self.tagged(251, &value.to_le_bytes());
        } else if let Ok(value) = u32::try_from(value) {
            self.tagged(252, &value.to_le_bytes());
        } else if let Ok(value) = u64::try_from(value) {
            self.tagged(253, &value.to_le_bytes());
        } else {
            self.tagged(254, &value.to_le_bytes());
        }
    }

    fn tagged(&mut self, tag: u8, bytes: &[u8]) {
        let mut buffer = [0; 17];
        buffer[0] = tag;
        buffer[1..=bytes.len()].copy_from_slice(bytes);
        self.out.put(&buffer[..=bytes.len()]);
    }

    /// A signed integer, zigzagged (0, -1, 1, -2, ... become 0, 1, 2, 3,
    /// ...) so that small magnitudes stay short.
    fn signed(&mut self, value: i128) {
        self.unsigned(((value << 1) ^ (value >> 127)) as u128);
    }

    fn length(&mut self, length: Option<usize>) -> Result {
        let length = length.ok_or_else(|| CodecError::new("a sequence must know its length"))?;
        self.unsigned(length as u128);
        Ok(())
    }
}

/// The elements of `iter` as little-endian bytes, with their count, when
/// it walks a slice of numbers whose wire form is their memory form.
fn plain_block<I: Iterator>(iter: &I) -> Option<(usize, &[u8])> {
    if let Some(slice) = sys::slice_of_iter::<I, u8>(iter) {
        return Some((slice.len(), slice));
    }
    if let Some(slice) = sys::slice_of_iter::<I, i8>(iter) {
        return Some((slice.len(), bytemuck::cast_slice(slice)));
    }
    if cfg!(target_endian = "little") {
        if let Some(slice) = sys::slice_of_iter::<I, f64>(iter) {
            return Some((slice.len(), bytemuck::cast_slice(slice)));
        }
        if let Some(slice) = sys::slice_of_iter::<I, f32>(iter) {
            return Some((slice.len(), bytemuck::cast_slice(slice)));
        }
    }
    None
}

/// Serializer methods writing a number as its little-endian bytes.
macro_rules! little_endian {
    ($($method:ident: $type:ty),* $(,)?) => {$(
        fn $method(self, value: $type) -> Result {
            self.out.put(&value.to_le_bytes());
            Ok(())
        }
    )*};
}

/// Serializer methods writing an integer in its short form, `signed` or
/// `unsigned`.
macro_rules! short_form {
    ($($method:ident: $type:ty => $form:ident),* $(,)?) => {$(
        fn $method(self, value: $type) -> Result {
            self.$form(value.into());
            Ok(())
        }
    )*};
}

impl<O: Output> ser::Serializer for &mut Encoder<'_, O> {
    type Ok = ();
    type Error = CodecError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_bool(self, value: bool) -> Result {
        self.out.put(&[u8::from(value)]);
        Ok(())
    }
    little_endian!(serialize_i8: i8, serialize_u8: u8, serialize_f32: f32, serialize_f64: f64);
    short_form!(
        serialize_i16: i16 => signed,
        serialize_i32: i32 => signed,
        serialize_i64: i64 => signed,
        serialize_i128: i128 => signed,
        serialize_u16: u16 => unsigned,
        serialize_u32: u32 => unsigned,
        serialize_u64: u64 => unsigned,
        serialize_u128: u128 => unsigned,
    );
    fn serialize_char(self, value: char) -> Result {
        self.out.put(value.encode_utf8(&mut [0; 4]).as_bytes());
        Ok(())
    }
    fn serialize_str(self, value: &str) -> Result {
        self.serialize_bytes(value.as_bytes())
    }
    fn serialize_bytes(self, value: &[u8]) -> Result {
        self.block(value.len(), value);
        Ok(())
    }
    fn serialize_none(self) -> Result {
        self.out.put(&[0]);
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result {
        self.out.put(&[1]);
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result {
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result {
        Ok(())
    }
    fn serialize_unit_variant(self, _name: &'static str, index: u32, _: &'static str) -> Result {
        self.unsigned(index.into());
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        value: &T,
    ) -> Result {
        self.unsigned(index.into());
        value.serialize(self)
    }
    fn serialize_seq(self, length: Option<usize>) -> Result<Self> {
        self.compound().length(length)?;
        Ok(self)
    }
    fn collect_seq<I>(self, items: I) -> Result
    where
        I: IntoIterator,
        I::Item: Serialize,
    {
        let items = items.into_iter();
        if let Some((count, block)) = plain_block(&items) {
            self.block(count, block);
            return Ok(());
        }
        let length = match items.size_hint() {
            (low, Some(high)) if low == high => Some(low),
            _ => None,
        };
        let sequence = self.serialize_seq(length)?;
        for item in items {
            item.serialize(&mut *sequence)?;
        }
        Ok(())
    }
    fn serialize_tuple(self, _length: usize) -> Result<Self> {
        Ok(self.compound())
    }
    fn serialize_tuple_struct(self, _name: &'static str, _length: usize) -> Result<Self> {
        Ok(self.compound())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _length: usize,
    ) -> Result<Self> {
        self.compound().unsigned(index.into());
        Ok(self)
    }
    fn serialize_map(self, length: Option<usize>) -> Result<Self> {
        self.compound().length(length)?;
        Ok(self)
    }
    fn serialize_struct(self, _name: &'static str, _length: usize) -> Result<Self> {
        Ok(self.compound())
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        length: usize,
    ) -> Result<Self> {
        self.serialize_tuple_variant(name, index, variant, length)
    }
    fn is_human_readable(&self) -> bool {
        false
    }
}

/// Implements the serde traits of compound values, each of which writes
/// its parts one after the other.
macro_rules! parts {
    ($($trait:ident :: $method:ident ($($name:ident,)?)),* $(,)?) => {$(
        impl<O: Output> ser::$trait for &mut Encoder<'_, O> {
            type Ok = ();
            type Error = CodecError;
            fn $method<T: Serialize + ?Sized>(
                &mut self,
                $($name: &'static str,)?
                value: &T,
            ) -> Result {
                value.serialize(&mut **self)
            }
            fn end(self) -> Result {
                Ok(())
            }
        }
    )*};
}

parts!(
    SerializeSeq::serialize_element(),
    SerializeTuple::serialize_element(),
    SerializeTupleStruct::serialize_field(),
    SerializeTupleVariant::serialize_field(),
    SerializeStruct::serialize_field(_key,),
    SerializeStructVariant::serialize_field(_key,),
);

impl<O: Output> ser::SerializeMap for &mut Encoder<'_, O> {
    type Ok = ();
    type Error = CodecError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result {
        key.serialize(&mut **self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the writes an encoding takes, and notes the lengths of
    /// those said to end it.
    #[derive(Default)]
    struct Counting(usize, Vec<usize>);

    impl Output for Counting {
        fn put(&mut self, _bytes: &[u8]) {
            self.0 += 1;
        }

        fn put_last(&mut self, bytes: &[u8]) {
            self.1.push(bytes.len());
            self.put(bytes);
        }
    }

    /// The lengths of the writes said to end `value`'s encoding.
    fn lasts<T: Serialize + ?Sized>(value: &T) -> Vec<usize> {
        let mut out = Counting::default();
        value.serialize(&mut Encoder::new(&mut out)).unwrap();
        out.1
    }

    #[test]
    fn a_block_ends_the_encoding_only_when_it_is_the_whole_value() {
        assert_eq!(lasts(&vec![7u8; 100]), [100]);
        assert_eq!(lasts(&vec![0.5f64; 10]), [80]);
        assert_eq!(lasts("text"), [4]);
        assert_eq!(lasts(&Some(vec![7u8; 3])), [3]);
        assert_eq!(lasts(&Ok::<_, ()>(vec![7u8; 3])), [3]);
        // Inside a compound value, whatever comes last.
        assert!(lasts(&(vec![7u8; 3],)).is_empty());
        assert!(lasts(&(1u8, vec![7u8; 3])).is_empty());
        assert!(lasts(&vec![vec![7u8; 3]]).is_empty());
        assert!(
            lasts(
                &[("key", vec![7u8; 3])]
                    .into_iter()
                    .collect::<std::collections::BTreeMap<_, _>>()
            )
            .is_empty()
        );
    }

    fn writes<T: Serialize + ?Sized>(value: &T) -> usize {
        let mut out = Counting::default();
        value.serialize(&mut Encoder::new(&mut out)).unwrap();
        out.0
    }

    #[test]
    fn a_slice_of_bytes_or_floats_is_one_write_after_its_length() {
        assert_eq!(writes(&vec![7u8; 10_000]), 2);
        assert_eq!(writes(&[-1i8; 300][..]), 2);
        assert_eq!(writes(&vec![0.5f64; 10_000]), 2);
        assert_eq!(writes(&vec![0.5f32; 10_000]), 2);
        // Other elements go one by one.
        assert_eq!(writes(&vec![7u16; 100]), 101);
    }
}
