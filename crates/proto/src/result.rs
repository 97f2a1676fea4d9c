//! The shape shared by every NFSv3 result: a status, then either the
//! success arm or the failure arm of the union.

use nfsl_xdr::{Decoder, Xdr, XdrError};

use crate::nfs3::Nfsstat3;

/// An NFSv3 procedure result (`switch (nfsstat3 status)`): `Ok` carries the
/// `resok` arm, `Err` a non-OK status and the `resfail` arm.
///
/// `Err` must never carry [`Nfsstat3::Ok`]; encoding such a value would
/// produce a reply the peer decodes as the success arm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NfsResult<T, F> {
    /// NFS3_OK and the success arm.
    Ok(T),
    /// A failure status and the failure arm.
    Err(Nfsstat3, F),
}

impl<T, F> NfsResult<T, F> {
    /// The status this result carries on the wire.
    pub fn status(&self) -> Nfsstat3 {
        match self {
            NfsResult::Ok(_) => Nfsstat3::Ok,
            NfsResult::Err(s, _) => *s,
        }
    }
}

impl<T: Xdr, F: Xdr> Xdr for NfsResult<T, F> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            NfsResult::Ok(v) => {
                Nfsstat3::Ok.encode(out);
                v.encode(out);
            }
            NfsResult::Err(status, f) => {
                debug_assert_ne!(*status, Nfsstat3::Ok, "failure arm with NFS3_OK");
                status.encode(out);
                f.encode(out);
            }
        }
    }

    fn decode(d: &mut Decoder<'_>) -> Result<Self, XdrError> {
        match Nfsstat3::decode(d)? {
            Nfsstat3::Ok => Ok(NfsResult::Ok(T::decode(d)?)),
            status => Ok(NfsResult::Err(status, F::decode(d)?)),
        }
    }
}
