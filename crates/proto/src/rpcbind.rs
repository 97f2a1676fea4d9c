//! RPCBIND versions 3 and 4 (RFC 1833): the `rpcb` mapping and universal
//! addresses, which a server uses to register its programs with the local
//! rpcbind (SET, UNSET, GETADDR), as knfsd and NFS-Ganesha do through
//! libtirpc, and DUMP to see what is registered. (Clients asking a remote
//! portmapper use PMAP version 2.)

use std::net::{IpAddr, SocketAddr};

use nfsl_xdr::{xdr_enum, xdr_opaque, xdr_struct};

/// RPC program number of rpcbind (and of the portmapper before it).
pub const RPCBIND_PROGRAM: u32 = 100000;
/// The rpcbind version with SET/UNSET/GETADDR on `rpcb`.
pub const RPCBIND_V4: u32 = 4;
/// Longest netid, universal address or owner accepted (rpcbind's own
/// strings are short; 255 bounds what a reply may make us hold).
pub const RPCB_MAXSTRING: usize = 255;

xdr_enum! {
    /// The rpcbind procedures a server uses.
    pub enum RpcbindProcedure {
        /// Does nothing.
        Null = 0,
        /// Registers a mapping; false if the program and version already
        /// have one for that netid.
        Set = 1,
        /// Removes the mappings of a program and version (for one netid, or
        /// all when the netid is empty); false if none were removed.
        Unset = 2,
        /// The universal address of a program and version on the netid of
        /// the transport the call came in on (not the one asked for).
        Getaddr = 3,
        /// Every registration ([`RpcbList`]).
        Dump = 4,
    }
}

/// Most registrations a DUMP reply may list (a real rpcbind holds a few
/// dozen).
pub const MAX_RPCB_LIST: usize = 4096;

/// The DUMP result: every registration (an XDR linked list).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RpcbList(pub Vec<Rpcb>);

impl nfsl_xdr::Xdr for RpcbList {
    fn encode(&self, out: &mut Vec<u8>) {
        nfsl_xdr::encode_list(&self.0, out);
    }
    fn decode(d: &mut nfsl_xdr::Decoder<'_>) -> Result<Self, nfsl_xdr::XdrError> {
        Ok(RpcbList(d.list_of(MAX_RPCB_LIST)?))
    }
}

xdr_opaque! {
    /// A string of an `rpcb` (netid, universal address, owner).
    pub struct RpcbString(max = RPCB_MAXSTRING);
}

xdr_struct! {
    /// One registration (`struct rpcb`).
    pub struct Rpcb {
        /// Program number.
        pub r_prog: u32,
        /// Program version.
        pub r_vers: u32,
        /// Network id: `tcp`, `tcp6`, `udp`...
        pub r_netid: RpcbString,
        /// Universal address (see [`universal_address`]).
        pub r_addr: RpcbString,
        /// Owner: rpcbind records the caller's uid for local callers.
        pub r_owner: RpcbString,
    }
}

impl Rpcb {
    /// The mapping of `program`/`version` to TCP at `addr`, owned by
    /// `owner` (`superuser` for root, else the uid).
    pub fn tcp(program: u32, version: u32, addr: SocketAddr, owner: &str) -> Rpcb {
        let netid = if addr.is_ipv4() { "tcp" } else { "tcp6" };
        Rpcb {
            r_prog: program,
            r_vers: version,
            r_netid: RpcbString(netid.into()),
            r_addr: RpcbString(universal_address(addr).into_bytes()),
            r_owner: RpcbString(owner.as_bytes().to_vec()),
        }
    }
}

/// The universal address of `addr` (RFC 1833 section 2.2):
/// `h1.h2.h3.h4.p1.p2` for IPv4, `x:x::x.p1.p2` for IPv6.
pub fn universal_address(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => v6.to_string(),
    };
    format!("{ip}.{}.{}", addr.port() >> 8, addr.port() & 0xff)
}

/// The socket address of a universal address, `None` if it is not one.
pub fn parse_universal_address(uaddr: &str) -> Option<SocketAddr> {
    let (rest, lo) = uaddr.rsplit_once('.')?;
    let (ip, hi) = rest.rsplit_once('.')?;
    let (hi, lo): (u8, u8) = (hi.parse().ok()?, lo.parse().ok()?);
    Some(SocketAddr::new(
        ip.parse().ok()?,
        u16::from(hi) << 8 | u16::from(lo),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nfsl_xdr::{decode_exact, encode_to_vec};

    #[test]
    fn universal_addresses_round_trip() {
        let cases = [
            ("0.0.0.0:2049", "0.0.0.0.8.1"),
            ("127.0.0.1:111", "127.0.0.1.0.111"),
            ("[::1]:2049", "::1.8.1"),
            ("[fe80::1:2]:65535", "fe80::1:2.255.255"),
        ];
        for (addr, uaddr) in cases {
            let addr: SocketAddr = addr.parse().unwrap();
            assert_eq!(universal_address(addr), uaddr);
            assert_eq!(parse_universal_address(uaddr), Some(addr));
        }
        for bad in ["", "1.2.3.4", "1.2.3.4.256.1", "x.1.2", "1.2.3.4.1.-1"] {
            assert_eq!(parse_universal_address(bad), None, "{bad}");
        }
    }

    #[test]
    fn rpcb_is_five_fields_on_the_wire() {
        let r = Rpcb::tcp(100003, 3, "0.0.0.0:2049".parse().unwrap(), "superuser");
        let bytes = encode_to_vec(&r);
        assert_eq!(&bytes[..8], &[0, 1, 0x86, 0xa3, 0, 0, 0, 3]);
        assert_eq!(&bytes[8..16], &[0, 0, 0, 3, b't', b'c', b'p', 0]);
        assert_eq!(decode_exact::<Rpcb>(&bytes).unwrap(), r);
        let list = RpcbList(vec![r.clone(), r.clone()]);
        assert_eq!(
            decode_exact::<RpcbList>(&encode_to_vec(&list)).unwrap(),
            list
        );
        let mut long = bytes[..8].to_vec();
        long.extend_from_slice(&1000u32.to_be_bytes());
        assert!(decode_exact::<Rpcb>(&long).is_err());
    }
}
