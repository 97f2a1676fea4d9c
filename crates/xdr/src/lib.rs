//! XDR (RFC 4506) encoding and decoding for nfsl.
//!
//! This crate is pure: bytes in, values out, and back. It knows nothing of
//! sockets, files, clocks or threads, so everything above it (RPC, NFSv3,
//! MOUNT, LOCALIO) can be tested and fuzzed without IO.
//!
//! One trait, [`Xdr`], serves every type. Decoding is defensive: every
//! variable-length item is checked against both its protocol maximum and the
//! bytes actually remaining *before* anything is allocated, so a hostile
//! length can never make us allocate more than the message we already hold.
//! Whole messages are decoded with [`decode_exact`], which rejects trailing
//! bytes.
//!
//! Why hand-written rather than a serde format or a code generator: the XDR
//! crates on crates.io either allocate from untrusted lengths or borrow with
//! lifetimes that do not fit an async server; the codec is ~300 lines and the
//! bounds checks are the point.
//!
//! It deliberately does not do: XDR unions with arbitrary discriminant types
//! (callers match on a `u32`), floating point, or quadruple precision.

// Nothing here needs `unsafe` (system calls, where any, go through rustix).
#![forbid(unsafe_code)]

mod decoder;
mod encoder;
mod macros;

pub use decoder::Decoder;
pub use encoder::Encoder;

/// Why a byte string is not a valid XDR encoding of the expected type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XdrError {
    /// The input ended before the item did.
    #[error("XDR input truncated: needed {needed} bytes, {remaining} remain")]
    Truncated {
        /// Bytes the item needed.
        needed: usize,
        /// Bytes left in the input.
        remaining: usize,
    },
    /// A variable-length item declared a length above its protocol maximum.
    #[error("XDR length {len} exceeds maximum {max}")]
    TooLong {
        /// Declared length (bytes or elements).
        len: u64,
        /// Maximum allowed.
        max: u64,
    },
    /// An enum or union discriminant with no defined meaning.
    #[error("invalid XDR discriminant {value} for {type_name}")]
    InvalidDiscriminant {
        /// The value found on the wire.
        value: u32,
        /// The Rust type being decoded.
        type_name: &'static str,
    },
    /// A boolean that was neither 0 nor 1.
    #[error("invalid XDR boolean {0}")]
    InvalidBool(u32),
    /// Bytes left over after a whole message was decoded.
    #[error("{0} trailing bytes after XDR message")]
    TrailingBytes(usize),
}

/// A value with an XDR representation.
///
/// `encode` appends to `out` and cannot fail; `decode` consumes exactly the
/// value's bytes from the decoder or returns an error without panicking.
pub trait Xdr: Sized {
    /// Appends the XDR encoding of `self` to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// Reads one value from `d`.
    fn decode(d: &mut Decoder<'_>) -> Result<Self, XdrError>;
}

/// Decodes a whole message: the bytes must hold exactly one `T`.
pub fn decode_exact<T: Xdr>(bytes: &[u8]) -> Result<T, XdrError> {
    let mut d = Decoder::new(bytes);
    let v = T::decode(&mut d)?;
    d.finish()?;
    Ok(v)
}

/// Encodes `value` into a fresh buffer.
pub fn encode_to_vec<T: Xdr>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    value.encode(&mut out);
    out
}

/// Number of zero bytes that pad `len` bytes of opaque data to a multiple of 4.
pub const fn padding(len: usize) -> usize {
    (4 - (len % 4)) % 4
}

impl Xdr for u32 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.put_u32(*self);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, XdrError> {
        d.u32()
    }
}

impl Xdr for i32 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.put_i32(*self);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, XdrError> {
        d.i32()
    }
}

impl Xdr for u64 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.put_u64(*self);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, XdrError> {
        d.u64()
    }
}

impl Xdr for i64 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.put_i64(*self);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, XdrError> {
        d.i64()
    }
}

impl Xdr for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        out.put_bool(*self);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, XdrError> {
        d.bool()
    }
}

impl<const N: usize> Xdr for [u8; N] {
    fn encode(&self, out: &mut Vec<u8>) {
        out.put_fixed_opaque(self);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, XdrError> {
        d.fixed_opaque::<N>()
    }
}

/// XDR optional data (`*T`): a boolean followed by the value when present.
impl<T: Xdr> Xdr for Option<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Some(v) => {
                out.put_bool(true);
                v.encode(out);
            }
            None => out.put_bool(false),
        }
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, XdrError> {
        if d.bool()? {
            Ok(Some(T::decode(d)?))
        } else {
            Ok(None)
        }
    }
}

/// The XDR `void`: zero bytes.
impl Xdr for () {
    fn encode(&self, _out: &mut Vec<u8>) {}
    fn decode(_d: &mut Decoder<'_>) -> Result<Self, XdrError> {
        Ok(())
    }
}

/// Encodes a counted array (`T<>`): the element count, then each element.
pub fn encode_array<T: Xdr>(items: &[T], out: &mut Vec<u8>) {
    out.put_u32(items.len() as u32);
    for item in items {
        item.encode(out);
    }
}

/// Encodes an XDR linked list (`*entry` chains as used by READDIR, EXPORT,
/// DUMP): each element preceded by TRUE, the list closed by FALSE.
pub fn encode_list<T: Xdr>(items: &[T], out: &mut Vec<u8>) {
    for item in items {
        out.put_bool(true);
        item.encode(out);
    }
    out.put_bool(false);
}

#[cfg(test)]
mod tests;
