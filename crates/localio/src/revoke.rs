//! [`Revocations`]: how the NFS server tells its listener that the rules
//! under which it handed out file descriptors have changed, so that every
//! confirmed session must end.
//!
//! An fd passed over the channel was authorized once, under the export
//! rules of that moment, and the server cannot take it back from the
//! client process. What it can do is end the session it came from: the
//! listener closes every channel connection that was given fds when the
//! generation goes up, and refuses to pass fds from an open that was
//! authorized before the change but finished after it (closing that
//! connection instead). The client sees the channel close, stops using the
//! fds of that session and re-probes later; the new session opens files
//! under the new rules. Connections that hold no fds yet (in the handshake,
//! or confirmed without an open) are left alone: their opens will be
//! authorized under the new rules anyway.

use std::sync::Arc;

use tokio::sync::watch;

/// A revocation generation shared by an [`crate::Authorizer`] and the
/// listener. Cheap to clone; every clone names the same generation.
#[derive(Debug, Clone)]
pub struct Revocations {
    tx: Arc<watch::Sender<u64>>,
}

impl Default for Revocations {
    fn default() -> Self {
        Revocations::new()
    }
}

impl Revocations {
    /// Generation 0: nothing revoked yet.
    pub fn new() -> Revocations {
        let (tx, _) = watch::channel(0);
        Revocations { tx: Arc::new(tx) }
    }

    /// Ends every session that was given fds, on the listeners that use this value
    /// (they close those connections promptly, whatever they are doing);
    /// returns the new generation.
    pub fn revoke_all(&self) -> u64 {
        let mut generation = 0;
        self.tx.send_modify(|g| {
            *g += 1;
            generation = *g;
        });
        generation
    }

    /// LOCALIO connections open now on the listeners that use this value:
    /// the sessions a [`Revocations::revoke_all`] would reach.
    pub fn sessions(&self) -> usize {
        self.tx.receiver_count()
    }

    /// The current generation (how many times sessions were revoked).
    pub fn generation(&self) -> u64 {
        *self.tx.borrow()
    }

    /// A receiver that sees every later revocation.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }
}

/// Resolves at the next revocation after the last one `rx` has seen
/// (never, if every sender is gone).
pub(crate) async fn next_revocation(rx: &mut watch::Receiver<u64>) {
    if rx.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn generations_count_and_wake_subscribers() {
        let r = Revocations::new();
        let mut rx = r.subscribe();
        assert_eq!(r.generation(), 0);
        assert_eq!(r.clone().revoke_all(), 1);
        next_revocation(&mut rx).await;
        assert_eq!(*rx.borrow(), 1);
        assert_eq!(r.revoke_all(), 2);
        assert_eq!(r.generation(), 2);
        next_revocation(&mut rx).await;
        let late = r.subscribe();
        assert!(
            !late.has_changed().unwrap(),
            "a new subscriber starts current"
        );
    }
}
