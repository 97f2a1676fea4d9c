use super::*;
use crate::auth::AuthSysParams;
use nfsl_xdr::{decode_exact, encode_to_vec};

fn header() -> CallHeader {
    CallHeader {
        xid: 0x1234_5678,
        rpc_version: 2,
        program: 100003,
        version: 3,
        procedure: 1,
        credential: OpaqueAuth::sys(&AuthSysParams {
            machine_name: b"m".to_vec(),
            uid: 1,
            gid: 2,
            ..Default::default()
        }),
        verifier: OpaqueAuth::NONE,
    }
}

#[test]
fn header_wire_form_and_round_trip() {
    let h = CallHeader {
        credential: OpaqueAuth::NONE,
        ..header()
    };
    #[rustfmt::skip]
    let expected = [
        0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0, 0, 0, 0, 2,
        0, 1, 0x86, 0xa3, 0, 0, 0, 3, 0, 0, 0, 1,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    assert_eq!(encode_to_vec(&h), expected);
    assert_eq!(decode_exact::<CallHeader>(&expected).unwrap(), h);
}

#[test]
fn decode_prefix_returns_args() {
    let mut msg = Vec::new();
    header().encode_call(&[9, 9, 9, 9], &mut msg);
    let (h, args) = CallHeader::decode_prefix(&msg).unwrap();
    assert_eq!(h, header());
    assert_eq!(args, [9, 9, 9, 9]);
}

#[test]
fn decode_prefix_triage() {
    assert_eq!(
        CallHeader::decode_prefix(&[1, 2, 3]),
        Err(RpcDecodeError::NoXid)
    );
    let e = CallHeader::decode_prefix(&[0, 0, 0, 5]).unwrap_err();
    assert_eq!(
        e,
        RpcDecodeError::NotACall {
            xid: 5,
            msg_type: None
        }
    );
    assert_eq!(e.xid(), Some(5));
    let e = CallHeader::decode_prefix(&[0, 0, 0, 5, 0, 0, 0, 1]).unwrap_err();
    assert_eq!(
        e,
        RpcDecodeError::NotACall {
            xid: 5,
            msg_type: Some(1)
        }
    );

    let mut msg = encode_to_vec(&CallHeader {
        rpc_version: 3,
        ..header()
    });
    msg.truncate(12);
    assert_eq!(
        CallHeader::decode_prefix(&msg),
        Err(RpcDecodeError::RpcVersionMismatch {
            xid: 0x1234_5678,
            rpc_version: 3
        })
    );

    let full = encode_to_vec(&header());
    for cut in 8..full.len() {
        let e = CallHeader::decode_prefix(&full[..cut]).unwrap_err();
        assert!(
            matches!(
                e,
                RpcDecodeError::BadHeader {
                    xid: 0x1234_5678,
                    ..
                }
            ),
            "{cut}: {e:?}"
        );
    }
    assert_eq!(RpcDecodeError::NoXid.xid(), None);
}

#[test]
fn xdr_decode_rejects_replies() {
    let mut msg = encode_to_vec(&header());
    msg[7] = 1;
    assert!(decode_exact::<CallHeader>(&msg).is_err());
}
