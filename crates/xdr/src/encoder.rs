//! Appending XDR primitives to a byte buffer.

use crate::padding;

/// XDR primitive writers, implemented for `Vec<u8>` so any buffer can be
/// appended to without a wrapper type.
pub trait Encoder {
    /// Appends a big-endian unsigned 32-bit integer.
    fn put_u32(&mut self, v: u32);
    /// Appends a big-endian signed 32-bit integer.
    fn put_i32(&mut self, v: i32);
    /// Appends a big-endian unsigned 64-bit hyper.
    fn put_u64(&mut self, v: u64);
    /// Appends a big-endian signed 64-bit hyper.
    fn put_i64(&mut self, v: i64);
    /// Appends a boolean as 0 or 1.
    fn put_bool(&mut self, v: bool);
    /// Appends fixed-length opaque data plus its padding (no length word).
    fn put_fixed_opaque(&mut self, data: &[u8]);
    /// Appends variable-length opaque data or a string: length, bytes, padding.
    fn put_opaque(&mut self, data: &[u8]);
}

impl Encoder for Vec<u8> {
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_i32(&mut self, v: i32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_i64(&mut self, v: i64) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_bool(&mut self, v: bool) {
        self.put_u32(v as u32);
    }
    fn put_fixed_opaque(&mut self, data: &[u8]) {
        self.extend_from_slice(data);
        self.extend_from_slice(&[0u8; 3][..padding(data.len())]);
    }
    fn put_opaque(&mut self, data: &[u8]) {
        self.put_u32(data.len() as u32);
        self.put_fixed_opaque(data);
    }
}
