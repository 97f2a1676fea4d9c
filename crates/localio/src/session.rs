//! One local channel connection on the server, as a pure state machine:
//! requests in, replies (or an open to authorize) out.
//!
//! ```text
//! Fresh --REGISTER ok--> Registered(nonce) --CONFIRMED yes--> Confirmed(session)
//!                                          --CONFIRMED no---> Registered (unchanged)
//! Confirmed --OPEN--> (authorize) --> Confirmed
//! anything else: ERROR reply, connection closed
//! ```

use std::time::Instant;

use nfsl_proto::nfs3::Nfsstat3;

use crate::codec::{Access, Creds, Nonce, OpenReply, RegisterStatus, Reply, Request};
use crate::registry::{Confirmation, ConnId, NonceRegistry, RegisterError};

/// The channel peer's credentials, from `SO_PEERCRED` and
/// `SO_PEERGROUPS` (fixed when the peer connected; the kernel vouches for
/// them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCred {
    /// The peer's process id (0 if unknown).
    pub pid: i32,
    /// The peer's effective uid.
    pub uid: u32,
    /// The peer's effective gid.
    pub gid: u32,
    /// The peer's supplementary groups.
    pub groups: Vec<u32>,
}

/// Why a peer may not use the AUTH_SYS credentials it claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClaimRefused {
    /// The claimed uid is not the peer's.
    #[error("the peer may not act as the claimed uid")]
    Uid,
    /// The claimed primary gid or a claimed group is not one of the peer's.
    #[error("the peer is not a member of a claimed group")]
    Group,
}

impl PeerCred {
    /// Whether this peer may claim to be `uid`: the same uid, or root.
    pub fn may_act_as(&self, uid: u32) -> bool {
        self.uid == 0 || self.uid == uid
    }

    /// Whether this peer is in group `gid` (its gid or a supplementary
    /// group).
    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }

    /// Whether this peer may use `creds`: root may claim anything; anyone
    /// else only its own uid, and only groups it is in (its gid and
    /// supplementary groups), as over RPC the claim would be believed.
    pub fn may_claim(&self, creds: &Creds) -> Result<(), ClaimRefused> {
        if self.uid == 0 {
            return Ok(());
        }
        if self.uid != creds.uid {
            return Err(ClaimRefused::Uid);
        }
        if !self.in_group(creds.gid) || !creds.gids.iter().all(|&g| self.in_group(g)) {
            return Err(ClaimRefused::Group);
        }
        Ok(())
    }
}

/// An open the listener must authorize ([`crate::Authorizer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRequest {
    /// The NFS connection that confirmed this channel's nonce: export
    /// rules are applied for its client address, as for RPC.
    pub session: Confirmation,
    /// The channel peer (already checked: it may claim `creds`).
    pub peer: PeerCred,
    /// The NFSv3 file handle.
    pub handle: Vec<u8>,
    /// Read or read-write.
    pub access: Access,
    /// The claimed AUTH_SYS credentials (not yet squashed).
    pub creds: Creds,
}

/// What the connection must do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this reply and go on.
    Reply(Reply),
    /// Authorize this open, then send its [`OpenReply`] (with the fds).
    Open(OpenRequest),
    /// Send this reply, then close the connection.
    Close(Reply),
}

#[derive(Debug)]
enum State {
    Fresh,
    Registered(Nonce),
    Confirmed(Nonce, Confirmation),
}

/// The server side of one channel connection.
#[derive(Debug)]
pub struct Session {
    id: ConnId,
    peer: PeerCred,
    state: State,
}

impl Session {
    /// A fresh connection from `peer`.
    pub fn new(id: ConnId, peer: PeerCred) -> Session {
        Session {
            id,
            peer,
            state: State::Fresh,
        }
    }

    /// Whether the handshake is complete.
    pub fn is_confirmed(&self) -> bool {
        matches!(self.state, State::Confirmed(..))
    }

    /// Handles one request at time `now`.
    pub fn handle(&mut self, request: Request, registry: &NonceRegistry, now: Instant) -> Step {
        match (&self.state, request) {
            (State::Fresh, Request::Register(nonce)) => {
                let status = match registry.register(nonce, self.id, self.peer.uid, now) {
                    Ok(()) => {
                        self.state = State::Registered(nonce);
                        RegisterStatus::Ok
                    }
                    Err(RegisterError::InUse) => RegisterStatus::InUse,
                    Err(RegisterError::Full | RegisterError::Quota) => RegisterStatus::Busy,
                };
                Step::Reply(Reply::Register(status))
            }
            (State::Registered(mine), Request::Confirmed(nonce)) => {
                let confirmed = if *mine == nonce {
                    registry.take(&nonce, self.id, now)
                } else {
                    None
                };
                if let Some(c) = confirmed {
                    self.state = State::Confirmed(nonce, c);
                }
                Step::Reply(Reply::Confirmed(confirmed.is_some()))
            }
            (State::Confirmed(mine, _), Request::Confirmed(nonce)) => {
                Step::Reply(Reply::Confirmed(*mine == nonce))
            }
            (
                State::Confirmed(_, session),
                Request::Open {
                    handle,
                    access,
                    creds,
                },
            ) => {
                if let Err(why) = self.peer.may_claim(&creds) {
                    tracing::info!(
                        peer_uid = self.peer.uid,
                        peer_gid = self.peer.gid,
                        peer_pid = self.peer.pid,
                        claimed_uid = creds.uid,
                        claimed_gid = creds.gid,
                        "LOCALIO open refused: {why}"
                    );
                    return Step::Reply(Reply::Open(OpenReply::Nfs(Nfsstat3::Perm)));
                }
                Step::Open(OpenRequest {
                    session: *session,
                    peer: self.peer.clone(),
                    handle,
                    access,
                    creds,
                })
            }
            (state, request) => {
                let what = match request {
                    Request::Register(_) => "REGISTER",
                    Request::Confirmed(_) => "CONFIRMED",
                    Request::Open { .. } => "OPEN",
                };
                let when = match state {
                    State::Fresh => "before REGISTER",
                    State::Registered(_) => "before confirmation",
                    State::Confirmed(..) => "after confirmation",
                };
                Step::Close(Reply::Error(format!("{what} is not allowed {when}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;

    fn peer(uid: u32) -> PeerCred {
        PeerCred {
            pid: 1,
            uid,
            gid: uid,
            groups: vec![],
        }
    }

    fn open(uid: u32) -> Request {
        Request::Open {
            handle: vec![1, 2, 3],
            access: Access::Read,
            creds: Creds {
                uid,
                gid: uid,
                gids: vec![],
            },
        }
    }

    fn conf() -> Confirmation {
        Confirmation {
            nfs_client: SocketAddr::from(([127, 0, 0, 1], 900)),
            nfs_server: SocketAddr::from(([127, 0, 0, 1], 2049)),
        }
    }

    #[test]
    fn handshake_then_open() {
        let reg = NonceRegistry::default();
        let now = Instant::now();
        let mut s = Session::new(ConnId(1), peer(1000));
        let n = Nonce::random();
        assert!(matches!(s.handle(open(1000), &reg, now), Step::Close(_)));
        let mut s = Session::new(ConnId(1), peer(1000));
        assert_eq!(
            s.handle(Request::Register(n), &reg, now),
            Step::Reply(Reply::Register(RegisterStatus::Ok))
        );
        assert!(matches!(s.handle(open(1000), &reg, now), Step::Close(_)));
        let mut s = Session::new(ConnId(2), peer(1000));
        let n = Nonce::random();
        s.handle(Request::Register(n), &reg, now);
        assert_eq!(
            s.handle(Request::Confirmed(n), &reg, now),
            Step::Reply(Reply::Confirmed(false))
        );
        assert!(reg.confirm(&n, conf(), now));
        assert_eq!(
            s.handle(Request::Confirmed(Nonce::random()), &reg, now),
            Step::Reply(Reply::Confirmed(false)),
            "another nonce"
        );
        assert_eq!(
            s.handle(Request::Confirmed(n), &reg, now),
            Step::Reply(Reply::Confirmed(true))
        );
        assert!(s.is_confirmed());
        assert_eq!(
            s.handle(Request::Confirmed(Nonce::random()), &reg, now),
            Step::Reply(Reply::Confirmed(false)),
            "only its own nonce"
        );
        assert_eq!(
            s.handle(Request::Confirmed(n), &reg, now),
            Step::Reply(Reply::Confirmed(true))
        );
        match s.handle(open(1000), &reg, now) {
            Step::Open(r) => {
                assert_eq!(r.session, conf());
                assert_eq!(r.creds.uid, 1000);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            s.handle(open(0), &reg, now),
            Step::Reply(Reply::Open(OpenReply::Nfs(Nfsstat3::Perm))),
            "non-root peer claiming root"
        );
        assert!(matches!(
            s.handle(Request::Register(n), &reg, now),
            Step::Close(_)
        ));
    }

    #[test]
    fn root_peer_may_claim_anyone() {
        assert!(peer(0).may_act_as(1234));
        assert!(peer(5).may_act_as(5));
        assert!(!peer(5).may_act_as(0));
    }

    #[test]
    fn a_peer_claims_only_its_own_groups() {
        let creds = |uid, gid, gids: &[u32]| Creds {
            uid,
            gid,
            gids: gids.to_vec(),
        };
        let p = PeerCred {
            pid: 1,
            uid: 1000,
            gid: 100,
            groups: vec![100, 20, 30],
        };
        assert_eq!(p.may_claim(&creds(1000, 100, &[20, 30])), Ok(()));
        assert_eq!(
            p.may_claim(&creds(1000, 20, &[100])),
            Ok(()),
            "a supplementary group as primary"
        );
        assert_eq!(p.may_claim(&creds(1000, 0, &[])), Err(ClaimRefused::Group));
        assert_eq!(
            p.may_claim(&creds(1000, 100, &[20, 42])),
            Err(ClaimRefused::Group)
        );
        assert_eq!(p.may_claim(&creds(0, 0, &[])), Err(ClaimRefused::Uid));
        assert_eq!(peer(0).may_claim(&creds(5, 6, &[7, 8])), Ok(()), "root");
        let reg = NonceRegistry::default();
        let now = Instant::now();
        let mut s = Session::new(ConnId(9), p);
        let n = Nonce::random();
        s.handle(Request::Register(n), &reg, now);
        assert!(reg.confirm(&n, conf(), now));
        s.handle(Request::Confirmed(n), &reg, now);
        let open = |gid, gids: &[u32]| Request::Open {
            handle: vec![1],
            access: Access::Read,
            creds: creds(1000, gid, gids),
        };
        assert!(matches!(
            s.handle(open(100, &[20]), &reg, now),
            Step::Open(_)
        ));
        assert_eq!(
            s.handle(open(0, &[]), &reg, now),
            Step::Reply(Reply::Open(OpenReply::Nfs(Nfsstat3::Perm))),
            "claims group root"
        );
        assert_eq!(
            s.handle(open(100, &[42]), &reg, now),
            Step::Reply(Reply::Open(OpenReply::Nfs(Nfsstat3::Perm))),
            "claims a group it is not in"
        );
    }
}
