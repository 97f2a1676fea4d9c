//! Decoding NFSv3 arguments, routing to the procedure, encoding results.

use nfsl_proto::nfs3::*;
use nfsl_rpc_service::{CallContext, CallOutcome, Results};
use nfsl_xdr::{decode_exact, Xdr, XdrError};

use super::context::Caller;
use super::Nfs3;

/// Decodes `A` (the whole argument buffer, no trailing bytes), runs `f` and
/// encodes its result; undecodable arguments are GARBAGE_ARGS. Serves
/// every program of this crate (NFSv3 and MOUNT).
pub(crate) fn run<A: Xdr, R: Xdr>(
    args: &[u8],
    results: &mut Vec<u8>,
    f: impl FnOnce(A) -> R,
) -> CallOutcome {
    run_into(args, results, |a, out| f(a).encode(out))
}

/// [`run`] for a procedure that builds its own results (READ, which places
/// file data there).
fn run_into<A: Xdr, R>(args: &[u8], results: &mut R, f: impl FnOnce(A, &mut R)) -> CallOutcome {
    run_decoded(decode_exact::<A>(args), results, f)
}

/// Runs `f` on arguments already decoded, or answers GARBAGE_ARGS.
fn run_decoded<A, R>(
    decoded: Result<A, XdrError>,
    results: &mut R,
    f: impl FnOnce(A, &mut R),
) -> CallOutcome {
    match decoded {
        Ok(a) => {
            f(a, results);
            CallOutcome::Success
        }
        Err(e) => {
            tracing::debug!(error = %e, "undecodable arguments");
            CallOutcome::GarbageArgs
        }
    }
}

impl Nfs3 {
    /// Whether a retransmitted non-idempotent call may be answered from
    /// the duplicate request cache: its arguments start with a file handle
    /// (every such procedure's do) whose export admits the caller now.
    pub(crate) fn may_replay(&self, ctx: &CallContext, args: &[u8]) -> bool {
        let Ok(fh) = NfsFh3::decode(&mut nfsl_xdr::Decoder::new(args)) else {
            return false;
        };
        self.shared.authorize(&Caller::from_call(ctx), &fh).is_ok()
    }

    /// Executes one NFSv3 call.
    pub(crate) fn dispatch(
        &self,
        ctx: &CallContext,
        args: &[u8],
        out: &mut Results,
    ) -> CallOutcome {
        let Some(procedure) = Nfs3Procedure::from_u32(ctx.procedure) else {
            return CallOutcome::ProcUnavail;
        };
        let c = Caller::from_call(ctx);
        let c = &c;
        match procedure {
            Nfs3Procedure::Null => run(args, out, |()| ()),
            Nfs3Procedure::Getattr => run(args, out, |a| self.getattr(c, a)),
            Nfs3Procedure::Setattr => run(args, out, |a| self.setattr(c, a)),
            Nfs3Procedure::Lookup => run(args, out, |a| self.lookup(c, a)),
            Nfs3Procedure::Access => run(args, out, |a| self.access(c, a)),
            Nfs3Procedure::Readlink => run(args, out, |a| self.readlink(c, a)),
            Nfs3Procedure::Read => run_into(args, out, |a, out| self.read_into(c, a, out)),
            // The data stays in the call record (no copy).
            Nfs3Procedure::Write => run_decoded(Write3ArgsRef::decode(args), out, |a, out| {
                self.write(c, a).encode(out)
            }),
            Nfs3Procedure::Create => run(args, out, |a| self.create(c, a)),
            Nfs3Procedure::Mkdir => run(args, out, |a| self.mkdir(c, a)),
            Nfs3Procedure::Symlink => run(args, out, |a| self.symlink(c, a)),
            Nfs3Procedure::Mknod => run(args, out, |a| self.mknod(c, a)),
            Nfs3Procedure::Remove => run(args, out, |a| self.remove(c, a)),
            Nfs3Procedure::Rmdir => run(args, out, |a| self.rmdir(c, a)),
            Nfs3Procedure::Rename => run(args, out, |a| self.rename(c, a)),
            Nfs3Procedure::Link => run(args, out, |a| self.link(c, a)),
            Nfs3Procedure::Readdir => run(args, out, |a| self.readdir(c, a)),
            Nfs3Procedure::Readdirplus => run(args, out, |a| self.readdirplus(c, a)),
            Nfs3Procedure::Fsstat => run(args, out, |a| self.fsstat(c, a)),
            Nfs3Procedure::Fsinfo => run(args, out, |a| self.fsinfo(c, a)),
            Nfs3Procedure::Pathconf => run(args, out, |a| self.pathconf(c, a)),
            Nfs3Procedure::Commit => run(args, out, |a| self.commit(c, a)),
        }
    }
}
