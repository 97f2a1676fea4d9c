//! The bytes of a file handle, and their authentication.
//!
//! ```text
//! offset  size  field
//! 0       1     version (1)
//! 1       1     scheme: 1 kernel, 2 inode
//! 2       4     export id, big-endian
//! 6       ...   payload:
//!                 kernel: handle_type i32 BE, length u8, handle bytes (<= 37)
//!                 inode:  inode number u64 BE, generation u64 BE, then the
//!                         parent directory's inode number and generation
//!                         (absent in handles of nfsl before 2026-12)
//! end-16  16    MAC: blake3 keyed hash of all preceding bytes, truncated
//! ```

use super::{FileHandle, HandleError, HandleKey, FHSIZE};
use crate::exports::ExportId;

const VERSION: u8 = 1;
const SCHEME_KERNEL: u8 = 1;
const SCHEME_INODE: u8 = 2;
const HEADER: usize = 6;
const MAC_LEN: usize = 16;
/// Largest kernel handle that fits: 64 - header - type/len - MAC.
pub(super) const MAX_KERNEL_HANDLE: usize = FHSIZE - HEADER - 5 - MAC_LEN;

/// What a handle names, within its export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Payload<'a> {
    /// A `name_to_handle_at` handle.
    Kernel {
        /// The kernel's `handle_type`.
        handle_type: i32,
        /// The kernel's opaque handle bytes.
        bytes: &'a [u8],
    },
    /// An inode number and generation (fallback scheme).
    Inode {
        /// Inode number.
        ino: u64,
        /// Generation: low bits of the birth time, 0 if unknown.
        generation: u64,
        /// The directory it was found in (inode number, generation); the
        /// root's handle names the root.
        parent: Option<(u64, u64)>,
    },
}

fn mac(key: &HandleKey, data: &[u8]) -> [u8; MAC_LEN] {
    let h = blake3::keyed_hash(key.bytes(), data);
    let mut out = [0u8; MAC_LEN];
    out.copy_from_slice(&h.as_bytes()[..MAC_LEN]);
    out
}

/// Compares without an early exit, so timing does not reveal how many
/// leading MAC bytes a forgery got right.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && std::hint::black_box(a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y))) == 0
}

/// Builds and authenticates a handle.
pub(super) fn encode(
    key: &HandleKey,
    export: ExportId,
    payload: Payload<'_>,
) -> Result<FileHandle, HandleError> {
    let mut buf = [0u8; FHSIZE];
    buf[0] = VERSION;
    buf[2..6].copy_from_slice(&export.0.to_be_bytes());
    let end = match payload {
        Payload::Kernel { handle_type, bytes } => {
            let len = bytes.len();
            if len > MAX_KERNEL_HANDLE {
                return Err(HandleError::TooBig(len));
            }
            buf[1] = SCHEME_KERNEL;
            buf[6..10].copy_from_slice(&handle_type.to_be_bytes());
            buf[10] = len as u8;
            buf[11..11 + len].copy_from_slice(bytes);
            11 + len
        }
        Payload::Inode {
            ino,
            generation,
            parent,
        } => {
            buf[1] = SCHEME_INODE;
            buf[6..14].copy_from_slice(&ino.to_be_bytes());
            buf[14..22].copy_from_slice(&generation.to_be_bytes());
            match parent {
                Some((p_ino, p_gen)) => {
                    buf[22..30].copy_from_slice(&p_ino.to_be_bytes());
                    buf[30..38].copy_from_slice(&p_gen.to_be_bytes());
                    38
                }
                None => 22,
            }
        }
    };
    let m = mac(key, &buf[..end]);
    buf[end..end + MAC_LEN].copy_from_slice(&m);
    Ok(FileHandle {
        len: (end + MAC_LEN) as u8,
        buf,
    })
}

/// Checks structure and MAC; returns the export id and payload.
pub(super) fn decode<'a>(
    key: &HandleKey,
    fh: &'a [u8],
) -> Result<(ExportId, Payload<'a>), HandleError> {
    let bad = HandleError::BadHandle;
    if fh.len() > FHSIZE || fh.len() < HEADER + MAC_LEN {
        return Err(bad);
    }
    let (body, tag) = fh.split_at(fh.len() - MAC_LEN);
    let export = handle_export_id(fh).ok_or(HandleError::BadHandle)?;
    let rest = &body[HEADER..];
    let payload = match (body[1], rest.len()) {
        (SCHEME_KERNEL, n) if n >= 5 && usize::from(rest[4]) == n - 5 => Payload::Kernel {
            handle_type: i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]),
            bytes: &rest[5..],
        },
        (SCHEME_INODE, n @ (16 | 32)) => {
            let word = |i: usize| {
                rest.get(i * 8..i * 8 + 8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes)
                    .ok_or(HandleError::BadHandle)
            };
            Payload::Inode {
                ino: word(0)?,
                generation: word(1)?,
                parent: if n == 32 {
                    Some((word(2)?, word(3)?))
                } else {
                    None
                },
            }
        }
        _ => return Err(bad),
    };
    if !ct_eq(&mac(key, body), tag) {
        return Err(bad);
    }
    Ok((export, payload))
}

/// The export id of a handle, without checking its MAC: for routing a
/// request to the right export, whose [`ExportFs::resolve`](super::ExportFs::resolve)
/// then authenticates it. `None` if it cannot be a handle of ours.
pub fn handle_export_id(fh: &[u8]) -> Option<ExportId> {
    match fh {
        [VERSION, SCHEME_KERNEL | SCHEME_INODE, a, b, c, d, ..]
            if (HEADER + MAC_LEN..=FHSIZE).contains(&fh.len()) =>
        {
            Some(ExportId(u32::from_be_bytes([*a, *b, *c, *d])))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> HandleKey {
        HandleKey::new([b; 32])
    }

    #[test]
    fn round_trips() {
        let k = key(1);
        let p = Payload::Kernel {
            handle_type: 1,
            bytes: &[9; 8],
        };
        let fh = encode(&k, ExportId(7), p).unwrap();
        assert_eq!(fh.as_bytes().len(), 11 + 8 + 16);
        assert_eq!(decode(&k, fh.as_bytes()).unwrap(), (ExportId(7), p));
        assert_eq!(handle_export_id(fh.as_bytes()), Some(ExportId(7)));
        for parent in [None, Some((5, 6))] {
            let p = Payload::Inode {
                ino: u64::MAX,
                generation: 3,
                parent,
            };
            let fh = encode(&k, ExportId(0), p).unwrap();
            assert_eq!(decode(&k, fh.as_bytes()).unwrap(), (ExportId(0), p));
        }
        let p = Payload::Inode {
            ino: u64::MAX,
            generation: 3,
            parent: Some((1, 2)),
        };
        let fh = encode(&k, ExportId(0), p).unwrap();
        assert!(matches!(
            decode(&key(2), fh.as_bytes()),
            Err(HandleError::BadHandle)
        ));
    }

    #[test]
    fn size_limits() {
        let k = key(1);
        let max = [0u8; MAX_KERNEL_HANDLE];
        let fh = encode(
            &k,
            ExportId(1),
            Payload::Kernel {
                handle_type: 0,
                bytes: &max,
            },
        )
        .unwrap();
        assert_eq!(fh.as_bytes().len(), FHSIZE);
        let big = [0u8; MAX_KERNEL_HANDLE + 1];
        let r = encode(
            &k,
            ExportId(1),
            Payload::Kernel {
                handle_type: 0,
                bytes: &big,
            },
        );
        assert!(matches!(r, Err(HandleError::TooBig(38))));
    }

    #[test]
    fn every_bit_flip_is_rejected() {
        let k = key(5);
        let p = Payload::Kernel {
            handle_type: 0x81,
            bytes: &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
        };
        let fh = encode(&k, ExportId(42), p).unwrap();
        let bytes = fh.as_bytes();
        for i in 0..bytes.len() * 8 {
            let mut b = bytes.to_vec();
            b[i / 8] ^= 1 << (i % 8);
            assert!(
                matches!(decode(&k, &b), Err(HandleError::BadHandle)),
                "bit {i}"
            );
        }
        for n in 0..bytes.len() {
            assert!(decode(&k, &bytes[..n]).is_err());
        }
    }
}
