//! The head / middle / tail split of a misaligned request (pure arithmetic).
//!
//! Direct IO needs the file offset and length aligned to the file's
//! `offset_align` and the memory aligned to `mem_align`. Like Linux's
//! LOCALIO, the engine never fails a misaligned request: it cuts it into a
//! buffered head up to the first aligned offset, a direct middle of whole
//! aligned blocks, and a buffered tail after the last aligned offset.

use std::ops::Range;

/// A request range `[offset, offset + len)` cut at alignment boundaries.
///
/// `head`, `middle` and `tail` are adjacent and cover exactly the request;
/// `middle` starts and ends on multiples of the alignment. When there is no
/// whole aligned block inside the request, `middle` (and `tail`) are empty
/// and `head` is the whole request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Buffered part before the first aligned offset.
    pub head: Range<u64>,
    /// Aligned part (direct IO).
    pub middle: Range<u64>,
    /// Buffered part after the last aligned offset.
    pub tail: Range<u64>,
}

impl Split {
    /// Cuts `[offset, offset + len)` at multiples of `align` (any positive
    /// value; 0 means "no direct IO": everything goes to `head`).
    /// The end saturates at `u64::MAX` (callers keep ranges within `i64::MAX`).
    pub fn new(offset: u64, len: u64, align: u64) -> Split {
        let end = offset.saturating_add(len);
        let whole = Split {
            head: offset..end,
            middle: end..end,
            tail: end..end,
        };
        if align == 0 {
            return whole;
        }
        let Some(mid_start) = offset.div_ceil(align).checked_mul(align) else {
            return whole;
        };
        let mid_end = end / align * align;
        if mid_start >= mid_end {
            return whole;
        }
        Split {
            head: offset..mid_start,
            middle: mid_start..mid_end,
            tail: mid_end..end,
        }
    }

    /// True when there is an aligned middle and also a head or a tail.
    pub fn is_split(&self) -> bool {
        !self.middle.is_empty() && (!self.head.is_empty() || !self.tail.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert_eq!(Split::new(0, 4096, 512).middle, 0..4096);
        assert!(!Split::new(0, 4096, 512).is_split());
        let s = Split::new(1, 1, 512);
        assert_eq!((s.head, s.middle.is_empty()), (1..2, true));
        let s = Split::new(100, 4097, 512);
        assert_eq!(
            (s.head, s.middle, s.tail),
            (100..512, 512..4096, 4096..4197)
        );
        assert_eq!(Split::new(511, 2, 512).head, 511..513);
        assert!(Split::new(511, 2, 512).middle.is_empty());
        assert_eq!(Split::new(5, 100, 0).head, 5..105);
    }

    proptest! {
        #[test]
        fn split_covers_exactly_and_middle_is_aligned(
            offset in 0u64..(1 << 40),
            len in 0u64..(1 << 22),
            align in prop_oneof![Just(0u64), Just(512), Just(4096), 1u64..10_000],
        ) {
            let s = Split::new(offset, len, align);
            prop_assert_eq!(s.head.start, offset);
            prop_assert_eq!(s.head.end, s.middle.start);
            prop_assert_eq!(s.middle.end, s.tail.start);
            prop_assert_eq!(s.tail.end, offset + len);
            prop_assert!(s.head.start <= s.head.end && s.middle.start <= s.middle.end && s.tail.start <= s.tail.end);
            if !s.middle.is_empty() {
                prop_assert_eq!(s.middle.start % align, 0);
                prop_assert_eq!(s.middle.end % align, 0);
                // head and tail are shorter than one block: the middle is maximal
                prop_assert!(s.head.end - s.head.start < align);
                prop_assert!(s.tail.end - s.tail.start < align);
            } else {
                prop_assert_eq!(s.head.clone(), offset..offset + len);
                // no whole aligned block fits inside the request
                if align > 0 {
                    let first = offset.div_ceil(align) * align;
                    prop_assert!(first + align > offset + len);
                }
            }
        }
    }
}
