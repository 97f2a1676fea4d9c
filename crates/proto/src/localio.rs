//! The LOCALIO auxiliary RPC program (Linux `nfslocalio`).
//!
//! It runs on the NFS connection itself and is never registered with a
//! portmapper. The client makes a random 16-byte nonce, shows it to the
//! server through a channel only a same-host process can reach, then calls
//! `UUID_IS_LOCAL(nonce)` over NFS. Linux replies void; the meaning is in
//! whether the server recognised the nonce.

use nfsl_xdr::xdr_enum;

/// RPC program number of LOCALIO.
pub const LOCALIO_PROGRAM: u32 = 400122;
/// The only LOCALIO version.
pub const LOCALIO_V1: u32 = 1;
/// Size of the nonce (`uuid_t`), a fixed-length opaque.
pub const UUID_SIZE: usize = 16;

/// A LOCALIO nonce as it travels in `UUID_IS_LOCAL` (fixed 16-byte opaque).
pub type LocalioUuid = [u8; UUID_SIZE];

xdr_enum! {
    /// LOCALIO version 1 procedures.
    pub enum LocalioProcedure {
        /// Does nothing; probes that the program is served.
        Null = 0,
        /// `void UUID_IS_LOCAL(uuid_t)`.
        UuidIsLocal = 1,
    }
}
