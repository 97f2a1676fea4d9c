//! Authentication data carried in calls: the opaque credential/verifier
//! container, the AUTH_SYS parameters, and the parsed [`Auth`] a server acts on.

use nfsl_xdr::{decode_exact, Decoder, Encoder, Xdr, XdrError};

use crate::reply::AuthStat;

/// Namespace for the authentication flavour numbers of RFC 5531 §8.2 and
/// RFC 2203 (`auth_flavor` on the wire is a plain `u32`, and a peer may send
/// any value, so these are constants rather than an enum).
#[derive(Debug)]
pub enum AuthFlavor {}

impl AuthFlavor {
    /// `AUTH_NONE` (a.k.a. `AUTH_NULL`): no authentication.
    pub const NONE: u32 = 0;
    /// `AUTH_SYS` (a.k.a. `AUTH_UNIX`): uid, gid and groups, unverified.
    pub const SYS: u32 = 1;
    /// `AUTH_SHORT`: a server-issued shorthand for an earlier credential.
    pub const SHORT: u32 = 2;
    /// `AUTH_DH`: Diffie-Hellman authentication.
    pub const DH: u32 = 3;
    /// `RPCSEC_GSS` (RFC 2203).
    pub const RPCSEC_GSS: u32 = 6;
}

/// Largest body of an `opaque_auth`, in bytes (RFC 5531 §8.2).
pub const MAX_AUTH_BODY: usize = 400;
/// Largest AUTH_SYS machine name, in bytes (RFC 5531 appendix A).
pub const MAX_MACHINE_NAME: usize = 255;
/// Largest number of supplementary groups in AUTH_SYS (RFC 5531 appendix A).
pub const MAX_AUTH_SYS_GIDS: usize = 16;

/// An `opaque_auth`: a flavour number and up to 400 bytes whose meaning
/// depends on the flavour. Used for both credentials and verifiers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct OpaqueAuth {
    /// The authentication flavour (see [`AuthFlavor`]).
    pub flavor: u32,
    /// Flavour-specific body, at most [`MAX_AUTH_BODY`] bytes.
    pub body: Vec<u8>,
}

impl OpaqueAuth {
    /// The empty `AUTH_NONE` credential or verifier.
    pub const NONE: OpaqueAuth = OpaqueAuth {
        flavor: AuthFlavor::NONE,
        body: Vec::new(),
    };

    /// An `AUTH_SYS` credential carrying `params`.
    pub fn sys(params: &AuthSysParams) -> OpaqueAuth {
        OpaqueAuth {
            flavor: AuthFlavor::SYS,
            body: nfsl_xdr::encode_to_vec(params),
        }
    }
}

impl Xdr for OpaqueAuth {
    fn encode(&self, out: &mut Vec<u8>) {
        out.put_u32(self.flavor);
        out.put_opaque(&self.body);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, XdrError> {
        Ok(OpaqueAuth {
            flavor: d.u32()?,
            body: d.opaque(MAX_AUTH_BODY)?.to_vec(),
        })
    }
}

/// The body of an `AUTH_SYS` credential (`authsys_parms`, RFC 5531 appendix A).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct AuthSysParams {
    /// Arbitrary id chosen by the caller.
    pub stamp: u32,
    /// The caller's host name, at most [`MAX_MACHINE_NAME`] bytes.
    pub machine_name: Vec<u8>,
    /// Effective user id.
    pub uid: u32,
    /// Effective group id.
    pub gid: u32,
    /// Supplementary groups, at most [`MAX_AUTH_SYS_GIDS`].
    pub gids: Vec<u32>,
}

impl AuthSysParams {
    /// Decodes the parameters from a credential body; the body must hold
    /// exactly one `authsys_parms` (trailing bytes are an error).
    pub fn from_body(body: &[u8]) -> Result<AuthSysParams, XdrError> {
        decode_exact(body)
    }
}

impl Xdr for AuthSysParams {
    fn encode(&self, out: &mut Vec<u8>) {
        out.put_u32(self.stamp);
        out.put_opaque(&self.machine_name);
        out.put_u32(self.uid);
        out.put_u32(self.gid);
        nfsl_xdr::encode_array(&self.gids, out);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, XdrError> {
        Ok(AuthSysParams {
            stamp: d.u32()?,
            machine_name: d.opaque(MAX_MACHINE_NAME)?.to_vec(),
            uid: d.u32()?,
            gid: d.u32()?,
            gids: d.array_of(MAX_AUTH_SYS_GIDS)?,
        })
    }
}

/// The caller's identity as parsed from a call's credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// `AUTH_NONE`: anonymous.
    None,
    /// `AUTH_SYS` with its parameters.
    Sys(AuthSysParams),
    /// A flavour this crate does not parse; the number is kept so a server
    /// can decide (nfsl's transport rejects it with `AUTH_BADCRED`).
    Other(u32),
}

impl Auth {
    /// Parses a call's credential.
    ///
    /// `AUTH_NONE` must have an empty body and `AUTH_SYS` a well-formed one;
    /// otherwise the result is [`AuthStat::BadCred`], as knfsd answers.
    /// Other flavours are returned as [`Auth::Other`] without inspection.
    pub fn from_credential(cred: &OpaqueAuth) -> Result<Auth, AuthStat> {
        match cred.flavor {
            AuthFlavor::NONE if cred.body.is_empty() => Ok(Auth::None),
            AuthFlavor::NONE => Err(AuthStat::BadCred),
            AuthFlavor::SYS => AuthSysParams::from_body(&cred.body)
                .map(Auth::Sys)
                .map_err(|_| AuthStat::BadCred),
            other => Ok(Auth::Other(other)),
        }
    }

    /// The flavour number this identity came from.
    pub fn flavor(&self) -> u32 {
        match self {
            Auth::None => AuthFlavor::NONE,
            Auth::Sys(_) => AuthFlavor::SYS,
            Auth::Other(f) => *f,
        }
    }
}

#[cfg(test)]
mod tests;
