use super::*;
use nfsl_xdr::encode_to_vec;

fn params() -> AuthSysParams {
    AuthSysParams {
        stamp: 7,
        machine_name: b"host".to_vec(),
        uid: 1000,
        gid: 100,
        gids: vec![4, 24, 27],
    }
}

#[test]
fn auth_sys_wire_form() {
    let enc = encode_to_vec(&params());
    #[rustfmt::skip]
    let expected = [
        0, 0, 0, 7,
        0, 0, 0, 4, b'h', b'o', b's', b't',
        0, 0, 0x03, 0xe8,
        0, 0, 0, 100,
        0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 24, 0, 0, 0, 27,
    ];
    assert_eq!(enc, expected);
    assert_eq!(AuthSysParams::from_body(&enc).unwrap(), params());
}

#[test]
fn auth_sys_rejects_trailing_bytes() {
    let mut enc = encode_to_vec(&params());
    enc.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(
        AuthSysParams::from_body(&enc),
        Err(XdrError::TrailingBytes(4))
    );
}

#[test]
fn auth_sys_rejects_too_many_gids_and_long_names() {
    let mut p = params();
    p.gids = vec![1; MAX_AUTH_SYS_GIDS + 1];
    assert!(AuthSysParams::from_body(&encode_to_vec(&p)).is_err());
    let mut p = params();
    p.machine_name = vec![b'a'; MAX_MACHINE_NAME + 1];
    assert!(AuthSysParams::from_body(&encode_to_vec(&p)).is_err());
    let mut p = params();
    p.gids = vec![1; MAX_AUTH_SYS_GIDS];
    p.machine_name = vec![b'a'; MAX_MACHINE_NAME];
    assert_eq!(AuthSysParams::from_body(&encode_to_vec(&p)).unwrap(), p);
}

#[test]
fn opaque_auth_bounds_body() {
    let ok = OpaqueAuth {
        flavor: 9,
        body: vec![1; MAX_AUTH_BODY],
    };
    assert_eq!(
        nfsl_xdr::decode_exact::<OpaqueAuth>(&encode_to_vec(&ok)).unwrap(),
        ok
    );
    let big = OpaqueAuth {
        flavor: 9,
        body: vec![1; MAX_AUTH_BODY + 1],
    };
    assert!(nfsl_xdr::decode_exact::<OpaqueAuth>(&encode_to_vec(&big)).is_err());
    assert_eq!(encode_to_vec(&OpaqueAuth::NONE), [0; 8]);
}

#[test]
fn credential_parsing() {
    assert_eq!(Auth::from_credential(&OpaqueAuth::NONE), Ok(Auth::None));
    assert_eq!(
        Auth::from_credential(&OpaqueAuth::sys(&params())),
        Ok(Auth::Sys(params()))
    );
    let bad_sys = OpaqueAuth {
        flavor: AuthFlavor::SYS,
        body: vec![0, 0, 0, 1],
    };
    assert_eq!(Auth::from_credential(&bad_sys), Err(AuthStat::BadCred));
    let bad_none = OpaqueAuth {
        flavor: AuthFlavor::NONE,
        body: vec![0; 4],
    };
    assert_eq!(Auth::from_credential(&bad_none), Err(AuthStat::BadCred));
    let gss = OpaqueAuth {
        flavor: AuthFlavor::RPCSEC_GSS,
        body: vec![1, 2, 3],
    };
    let auth = Auth::from_credential(&gss).unwrap();
    assert_eq!(auth, Auth::Other(AuthFlavor::RPCSEC_GSS));
    assert_eq!(auth.flavor(), 6);
    assert_eq!(Auth::Sys(params()).flavor(), AuthFlavor::SYS);
    assert_eq!(Auth::None.flavor(), AuthFlavor::NONE);
}
