//! Reading XDR primitives from a borrowed byte slice, bounds-checked.

use crate::{padding, Xdr, XdrError};

/// A cursor over an XDR byte string.
///
/// Every read checks the remaining length first; variable-length reads also
/// check a caller-supplied maximum, so nothing is allocated from an untrusted
/// length that the input could not back.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    /// Starts decoding at the beginning of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Decoder { buf, pos: 0 }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The unconsumed bytes, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Succeeds only if every byte has been consumed.
    pub fn finish(&self) -> Result<(), XdrError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(XdrError::TrailingBytes(n)),
        }
    }

    /// Consumes exactly `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], XdrError> {
        if n > self.remaining() {
            return Err(XdrError::Truncated {
                needed: n,
                remaining: self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], XdrError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// Reads an unsigned 32-bit integer.
    pub fn u32(&mut self) -> Result<u32, XdrError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Reads a signed 32-bit integer.
    pub fn i32(&mut self) -> Result<i32, XdrError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    /// Reads an unsigned 64-bit hyper.
    pub fn u64(&mut self) -> Result<u64, XdrError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Reads a signed 64-bit hyper.
    pub fn i64(&mut self) -> Result<i64, XdrError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    /// Reads a boolean; anything but 0 or 1 is an error.
    pub fn bool(&mut self) -> Result<bool, XdrError> {
        match self.u32()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(XdrError::InvalidBool(v)),
        }
    }

    /// Reads fixed-length opaque data of `N` bytes and skips its padding.
    pub fn fixed_opaque<const N: usize>(&mut self) -> Result<[u8; N], XdrError> {
        let a = self.array::<N>()?;
        self.take(padding(N))?;
        Ok(a)
    }

    /// Reads variable-length opaque data (or a string's bytes) of at most
    /// `max` bytes, borrowing it from the input, and skips its padding.
    pub fn opaque(&mut self, max: usize) -> Result<&'a [u8], XdrError> {
        let len = self.u32()? as usize;
        if len > max {
            return Err(XdrError::TooLong {
                len: len as u64,
                max: max as u64,
            });
        }
        let data = self.take(len)?;
        self.take(padding(len))?;
        Ok(data)
    }

    /// Reads the element count of a counted array and checks it against
    /// `max` and against the input: every XDR item takes at least 4 bytes,
    /// so a count the remaining bytes cannot hold is rejected before any
    /// allocation.
    pub fn array_len(&mut self, max: usize) -> Result<usize, XdrError> {
        let len = self.u32()? as usize;
        if len > max {
            return Err(XdrError::TooLong {
                len: len as u64,
                max: max as u64,
            });
        }
        let needed = len.saturating_mul(4);
        if needed > self.remaining() {
            return Err(XdrError::Truncated {
                needed,
                remaining: self.remaining(),
            });
        }
        Ok(len)
    }

    /// Reads a counted array (`T<max>`) of at most `max` elements.
    pub fn array_of<T: Xdr>(&mut self, max: usize) -> Result<Vec<T>, XdrError> {
        let len = self.array_len(max)?;
        let mut v = Vec::with_capacity(len);
        for _ in 0..len {
            v.push(T::decode(self)?);
        }
        Ok(v)
    }

    /// Reads an XDR linked list (`*entry` chain) of at most `max` elements.
    pub fn list_of<T: Xdr>(&mut self, max: usize) -> Result<Vec<T>, XdrError> {
        let mut v = Vec::new();
        while self.bool()? {
            if v.len() == max {
                return Err(XdrError::TooLong {
                    len: max as u64 + 1,
                    max: max as u64,
                });
            }
            v.push(T::decode(self)?);
        }
        Ok(v)
    }
}
