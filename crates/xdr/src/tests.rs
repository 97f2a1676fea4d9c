use super::*;
use proptest::prelude::*;

xdr_struct! {
    struct Sample {
        a: u32,
        b: i64,
        flag: bool,
        maybe: Option<u64>,
        tag: [u8; 5],
    }
}

xdr_opaque! {
    struct Blob(max = 16);
}

#[test]
fn primitives_are_big_endian() {
    assert_eq!(encode_to_vec(&0x0102_0304u32), [1, 2, 3, 4]);
    assert_eq!(encode_to_vec(&-1i32), [0xff; 4]);
    assert_eq!(encode_to_vec(&1u64), [0, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(encode_to_vec(&true), [0, 0, 0, 1]);
}

#[test]
fn opaque_is_padded_and_padding_is_skipped() {
    let b = Blob(vec![9; 5]);
    let enc = encode_to_vec(&b);
    assert_eq!(enc.len(), 4 + 8);
    assert_eq!(decode_exact::<Blob>(&enc).unwrap(), b);
}

#[test]
fn oversized_opaque_is_rejected_before_allocation() {
    let err = decode_exact::<Blob>(&[0xff, 0xff, 0xff, 0xff]).unwrap_err();
    assert!(matches!(err, XdrError::TooLong { .. }));
}

#[test]
fn truncated_opaque_is_rejected() {
    let err = decode_exact::<Blob>(&[0, 0, 0, 8, 1, 2]).unwrap_err();
    assert!(matches!(err, XdrError::Truncated { .. }));
}

#[test]
fn hostile_array_count_is_rejected_before_allocation() {
    let mut d = Decoder::new(&[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1]);
    let err = d.array_of::<u32>(usize::MAX).unwrap_err();
    assert!(matches!(err, XdrError::Truncated { .. }));
}

#[test]
fn list_is_bounded() {
    let mut enc = Vec::new();
    encode_list(&[1u32, 2, 3], &mut enc);
    assert_eq!(Decoder::new(&enc).list_of::<u32>(3).unwrap(), [1, 2, 3]);
    assert!(Decoder::new(&enc).list_of::<u32>(2).is_err());
}

#[test]
fn trailing_bytes_are_rejected() {
    assert_eq!(
        decode_exact::<u32>(&[0, 0, 0, 1, 0]),
        Err(XdrError::TrailingBytes(1))
    );
}

#[test]
fn bad_bool_is_rejected() {
    assert_eq!(
        decode_exact::<bool>(&[0, 0, 0, 2]),
        Err(XdrError::InvalidBool(2))
    );
}

proptest! {
    #[test]
    fn struct_round_trips(a: u32, b: i64, flag: bool, maybe: Option<u64>, tag: [u8; 5]) {
        let s = Sample { a, b, flag, maybe, tag };
        prop_assert_eq!(decode_exact::<Sample>(&encode_to_vec(&s)).unwrap(), s);
    }

    #[test]
    fn blob_round_trips(data in proptest::collection::vec(any::<u8>(), 0..=16)) {
        let b = Blob(data);
        prop_assert_eq!(decode_exact::<Blob>(&encode_to_vec(&b)).unwrap(), b);
    }

    #[test]
    fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode_exact::<Sample>(&bytes);
        let _ = decode_exact::<Blob>(&bytes);
        let _ = Decoder::new(&bytes).array_of::<Blob>(1 << 20);
        let _ = Decoder::new(&bytes).list_of::<u64>(1 << 20);
    }
}
