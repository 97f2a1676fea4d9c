use super::*;

fn framed(records: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        frame_record(r, &mut out);
    }
    out
}

fn drain(d: &mut RecordDecoder) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    while let Ok(Some(r)) = d.next_record() {
        v.push(r);
    }
    v
}

#[test]
fn marker_encoding() {
    assert_eq!(encode_record_marker(5, true), [0x80, 0, 0, 5]);
    assert_eq!(encode_record_marker(5, false), [0, 0, 0, 5]);
    assert_eq!(
        encode_record_marker(u32::MAX, false),
        [0x7f, 0xff, 0xff, 0xff]
    );
}

#[test]
fn frame_and_build() {
    assert_eq!(framed(&[b"abc"]), [0x80, 0, 0, 3, b'a', b'b', b'c']);
    assert_eq!(framed(&[b""]), [0x80, 0, 0, 0]);
    let built = build_record(|out| out.extend_from_slice(b"abc"));
    assert_eq!(built, framed(&[b"abc"]));
    assert_eq!(build_record(|out| out.clear()), [0x80, 0, 0, 0]);
}

#[test]
fn single_and_back_to_back_records() {
    let mut d = RecordDecoder::new(100);
    assert_eq!(d.next_record(), Ok(None));
    assert!(d.is_empty());
    d.push(&framed(&[b"one", b"", b"three"]));
    assert_eq!(d.next_record(), Ok(Some(b"one".to_vec())));
    assert!(!d.is_empty(), "two records still waiting");
    assert_eq!(drain(&mut d), [vec![], b"three".to_vec()]);
    assert!(!d.is_mid_record());
    assert!(d.is_empty());
    d.push(&encode_record_marker(3, true)[..2]);
    assert!(!d.is_empty(), "a marker started");
}

#[test]
fn multi_fragment_record_byte_by_byte() {
    let mut s = Vec::new();
    s.extend_from_slice(&encode_record_marker(2, false));
    s.extend_from_slice(b"ab");
    s.extend_from_slice(&encode_record_marker(0, false));
    s.extend_from_slice(&encode_record_marker(3, true));
    s.extend_from_slice(b"cde");
    let mut d = RecordDecoder::new(5);
    for (i, b) in s.iter().enumerate() {
        d.push(std::slice::from_ref(b));
        if i + 1 < s.len() {
            assert_eq!(d.next_record(), Ok(None));
            assert!(d.is_mid_record());
        }
    }
    assert_eq!(d.next_record(), Ok(Some(b"abcde".to_vec())));
    assert!(!d.is_mid_record());
}

#[test]
fn oversized_fragment_fails_before_buffering() {
    let mut d = RecordDecoder::new(1 << 20);
    d.push(&[0x80, 0x20, 0, 0]); // 2 MiB, no payload sent
    assert_eq!(
        d.next_record(),
        Err(RecordError::TooLarge {
            len: 2 << 20,
            max: 1 << 20
        })
    );
    assert_eq!(d.current.capacity(), 0);
    // Sticky; later input is ignored.
    d.push(&framed(&[b"x"]));
    assert!(d.next_record().is_err());
}

#[test]
fn oversized_across_fragments_and_records_before_error_survive() {
    let mut s = framed(&[b"ok"]);
    s.extend_from_slice(&encode_record_marker(3, false));
    s.extend_from_slice(b"abc");
    s.extend_from_slice(&encode_record_marker(3, true));
    let mut d = RecordDecoder::new(5);
    d.push(&s);
    assert_eq!(d.next_record(), Ok(Some(b"ok".to_vec())));
    assert_eq!(
        d.next_record(),
        Err(RecordError::TooLarge { len: 6, max: 5 })
    );
    assert_eq!(d.max_record_len(), 5);
}

#[test]
fn empty_fragments_are_bounded() {
    let mut d = RecordDecoder::new(10).with_max_fragments(3);
    let empty = encode_record_marker(0, false);
    d.push(&empty);
    d.push(&empty);
    d.push(&empty);
    assert_eq!(d.next_record(), Ok(None));
    d.push(&empty);
    assert_eq!(
        d.next_record(),
        Err(RecordError::TooManyFragments { max: 3 })
    );
    // The bound is per record.
    let mut d = RecordDecoder::new(10).with_max_fragments(2);
    for _ in 0..10 {
        d.push(&empty);
        d.push(&encode_record_marker(0, true));
    }
    assert_eq!(drain(&mut d).len(), 10);
    assert_eq!(d.next_record(), Ok(None));
}

#[test]
fn one_mebibyte_record_in_small_chunks() {
    let payload: Vec<u8> = (0..(1usize << 20)).map(|i| i as u8).collect();
    let s = framed(&[&payload]);
    let mut d = RecordDecoder::new(1 << 20);
    for chunk in s.chunks(1500) {
        d.push(chunk);
    }
    assert_eq!(d.next_record(), Ok(Some(payload)));
}

/// Hands out one stale, longer buffer per record and counts the calls.
struct Recycled(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl RecordBuffers for Recycled {
    fn take(&mut self, len: usize) -> Vec<u8> {
        assert!(len > 0, "asked only for a record with payload");
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        vec![0xee; 64]
    }
}

#[test]
fn recycled_buffers_hold_exactly_the_record() {
    let taken = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut d = RecordDecoder::new(100).with_buffers(Recycled(taken.clone()));
    let mut s = framed(&[b"short", b""]);
    s.extend_from_slice(&encode_record_marker(0, false));
    s.extend_from_slice(&encode_record_marker(70, false));
    s.extend_from_slice(&[7; 70]);
    s.extend_from_slice(&encode_record_marker(2, true));
    s.extend_from_slice(b"xy");
    d.push(&s);
    let mut long = vec![7; 70];
    long.extend_from_slice(b"xy");
    assert_eq!(drain(&mut d), [b"short".to_vec(), vec![], long]);
    // One buffer per record with payload: none for the empty record, one
    // for the three fragments of the last.
    assert_eq!(taken.load(std::sync::atomic::Ordering::Relaxed), 2);
}

/// Reads `stream` the way a socket reader does: into each target, at most
/// `read` bytes at a time.
fn pull(d: &mut RecordDecoder, mut stream: &[u8], read: usize) {
    while !stream.is_empty() {
        let n = match d.read_target() {
            ReadTarget::Failed => return,
            ReadTarget::Marker(buf) => {
                let n = buf.len().min(stream.len()).min(read);
                buf[..n].copy_from_slice(&stream[..n]);
                n
            }
            ReadTarget::Payload(mut room) => {
                let n = room.remaining_mut().min(stream.len()).min(read);
                room.put_slice(&stream[..n]);
                n
            }
        };
        d.filled(n);
        stream = &stream[n..];
    }
}

#[test]
fn targets_ask_for_exactly_the_rest_of_marker_and_fragment() {
    let mut d = RecordDecoder::new(100);
    match d.read_target() {
        ReadTarget::Marker(buf) => {
            assert_eq!(buf.len(), 4);
            buf[..3].copy_from_slice(&encode_record_marker(5, true)[..3]);
        }
        other => panic!("{other:?}"),
    }
    d.filled(3);
    assert!(d.is_mid_record());
    match d.read_target() {
        ReadTarget::Marker(buf) => {
            assert_eq!(buf.len(), 1);
            buf[0] = 5;
        }
        other => panic!("{other:?}"),
    }
    d.filled(1);
    match d.read_target() {
        ReadTarget::Payload(mut room) => {
            assert_eq!(room.remaining_mut(), 5);
            room.put_slice(b"ab");
        }
        other => panic!("{other:?}"),
    }
    d.filled(2);
    assert_eq!(d.payload_remaining(), Some(3));
    match d.read_target() {
        ReadTarget::Payload(mut room) => {
            assert_eq!(room.remaining_mut(), 3, "the rest of the fragment");
            room.put_slice(b"cde");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(d.next_record(), Ok(None));
    d.filled(3);
    assert_eq!(d.payload_remaining(), None, "between fragments");
    assert_eq!(d.next_record(), Ok(Some(b"abcde".to_vec())));
    assert!(d.is_empty());
}

#[test]
fn a_read_of_nothing_changes_nothing() {
    let mut d = RecordDecoder::new(100);
    d.filled(0);
    d.push(&encode_record_marker(3, true));
    d.filled(0);
    assert!(matches!(d.read_target(), ReadTarget::Payload(r) if r.remaining_mut() == 3));
    d.push(b"xyz");
    assert_eq!(d.next_record(), Ok(Some(b"xyz".to_vec())));
}

#[test]
fn pull_and_push_agree_for_every_read_size() {
    let mut s = framed(&[b"first record", b""]);
    s.extend_from_slice(&encode_record_marker(3, false));
    s.extend_from_slice(b"abc");
    s.extend_from_slice(&encode_record_marker(0, false));
    s.extend_from_slice(&encode_record_marker(2, true));
    s.extend_from_slice(b"de");
    for read in 1..=s.len() {
        let mut d = RecordDecoder::new(100);
        pull(&mut d, &s, read);
        let records = drain(&mut d);
        assert_eq!(
            records,
            [b"first record".to_vec(), vec![], b"abcde".to_vec()]
        );
        assert!(d.is_empty());
    }
}

/// Hands out one buffer with room for a whole record and remembers where
/// it lives.
struct Preallocated(std::sync::Arc<std::sync::Mutex<Vec<usize>>>);

impl RecordBuffers for Preallocated {
    fn take(&mut self, len: usize) -> Vec<u8> {
        let buf = vec![0xee; len + 8];
        self.0.lock().unwrap().push(buf.as_ptr() as usize);
        buf
    }
}

#[test]
fn payload_is_read_straight_into_the_record_buffer() {
    let payload: Vec<u8> = (0..(1usize << 20)).map(|i| (i * 7) as u8).collect();
    let s = framed(&[&payload]);
    let taken = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut d = RecordDecoder::new(1 << 20).with_buffers(Preallocated(taken.clone()));
    pull(&mut d, &s, 65536 + 3);
    let record = d.next_record().unwrap().unwrap();
    assert_eq!(record, payload);
    // The buffer the record was taken from, never moved or regrown.
    assert_eq!(*taken.lock().unwrap(), [record.as_ptr() as usize]);
}

#[test]
fn oversized_marker_fails_before_reserving_and_wants_nothing_more() {
    let mut d = RecordDecoder::new(1 << 20);
    pull(&mut d, &(LAST_FRAGMENT | 0x7fff_ffff).to_be_bytes(), 4);
    assert!(matches!(d.next_record(), Err(RecordError::TooLarge { .. })));
    assert_eq!(d.current.capacity(), 0);
    assert!(matches!(d.read_target(), ReadTarget::Failed));
    assert_eq!(d.payload_remaining(), None);
}

#[test]
fn truncated_record_is_mid_record() {
    let mut d = RecordDecoder::new(100);
    pull(&mut d, &encode_record_marker(10, true), 4);
    assert!(d.is_mid_record(), "a marker and no payload yet");
    pull(&mut d, b"12345", 100);
    assert_eq!(d.next_record(), Ok(None));
    assert!(d.is_mid_record());
}

#[test]
fn endless_empty_fragments_stop_without_allocating() {
    let mut d = RecordDecoder::new(1 << 20);
    let empty = encode_record_marker(0, false);
    for _ in 0..=DEFAULT_MAX_FRAGMENTS {
        pull(&mut d, &empty, 4);
        assert_eq!(d.current.capacity(), 0);
    }
    assert_eq!(
        d.next_record(),
        Err(RecordError::TooManyFragments {
            max: DEFAULT_MAX_FRAGMENTS
        })
    );
    // Further input is not even looked at.
    d.push(&empty.repeat(1 << 16));
    assert!(matches!(d.read_target(), ReadTarget::Failed));
    assert_eq!(d.current.capacity(), 0);
}
