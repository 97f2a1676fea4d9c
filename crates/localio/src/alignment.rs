//! A file's direct-IO alignment: measured by the server when it opens a
//! file for a LOCALIO client, sent in the open reply, and used by the
//! client's IO engine to place direct IO.

use std::os::fd::AsFd;

use rustix::fs::{self, AtFlags, StatxFlags};

/// `STATX_DIO_READ_ALIGN` (Linux 6.14): `stx_dio_read_offset_align` is valid.
const STATX_DIO_READ_ALIGN: u32 = 0x0002_0000;

/// A file's direct-IO alignment, as statx reports it (`STATX_DIOALIGN`,
/// `STATX_DIO_READ_ALIGN`). 0 means "not reported / not supported".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DioAlignment {
    /// Alignment of the memory buffer of a direct IO.
    pub mem_align: u32,
    /// Alignment of the file offset and length of a direct IO.
    pub offset_align: u32,
    /// Alignment of the offset and length of a direct *read* when it is finer
    /// than `offset_align` (0: same as `offset_align`).
    pub read_offset_align: u32,
}

impl DioAlignment {
    /// Asks the kernel (statx on `fd`). A file system that reports nothing
    /// gives all zeros, meaning direct IO is not used.
    pub fn probe(fd: impl AsFd) -> std::io::Result<DioAlignment> {
        let mask = StatxFlags::DIOALIGN | StatxFlags::from_bits_retain(STATX_DIO_READ_ALIGN);
        let stx = fs::statx(fd, "", AtFlags::EMPTY_PATH, mask)?;
        let got = stx.stx_mask;
        let mut align = DioAlignment::default();
        if got & StatxFlags::DIOALIGN.bits() != 0 {
            align.mem_align = stx.stx_dio_mem_align;
            align.offset_align = stx.stx_dio_offset_align;
        }
        if got & STATX_DIO_READ_ALIGN != 0 {
            align.read_offset_align = stx.stx_dio_read_offset_align;
        }
        Ok(align)
    }

    /// True if direct IO is possible at all (both alignments known, the
    /// memory one a power of two as allocators need).
    pub fn supports_direct(&self) -> bool {
        self.offset_align > 0 && self.mem_align > 0 && self.mem_align.is_power_of_two()
    }

    /// The offset/length alignment for reads.
    pub fn read_align(&self) -> u32 {
        if self.read_offset_align != 0 {
            self.read_offset_align
        } else {
            self.offset_align
        }
    }
}
