//! READ answered on the transport's own thread, when it can be without
//! waiting ([`RpcService::try_call`](nfsl_rpc_service::RpcService::try_call)):
//! the file is in the open-file cache with this caller's read access
//! already decided, and the data is in the page cache. Then the whole call
//! is an `fstat` and a `preadv2(RWF_NOWAIT)` on a thread that never
//! sleeps, with no hand-off to the blocking pool and back (about ten
//! futex calls per READ with eight in flight, before).
//!
//! Anything else declines (and leaves no trace): a handle not cached or
//! its file removed, `subtree_check` (its checks do path look-ups), a
//! caller whose access needs checking under switched credentials, a READ
//! large enough to be sent with `sendfile` (which may wait for the disk),
//! data not all in the page cache, any error (the blocking path answers
//! it, with its logging). The transport then runs the ordinary
//! [`Nfs3::read_into`] on the blocking pool.

use nfsl_proto::nfs3::{Nfs3Procedure, Read3Args};
use nfsl_rpc_service::{CallContext, CallOutcome, Results};
use nfsl_xdr::decode_exact;
use rustix::fs::{fstat, FileType};

use super::context::Caller;
use super::read_data::{encode_read_ok, read_len, ReadData};
use super::Nfs3;
use crate::handle::Access;

impl Nfs3 {
    /// Answers the call if it can without waiting (NULL, and READ as the
    /// module docs say); `None` otherwise, having done nothing.
    pub(crate) fn try_dispatch(
        &self,
        ctx: &CallContext,
        args: &[u8],
        out: &mut Results,
    ) -> Option<CallOutcome> {
        match Nfs3Procedure::from_u32(ctx.procedure)? {
            Nfs3Procedure::Null => Some(super::run(args, out, |()| ())),
            Nfs3Procedure::Read => {
                let a = decode_exact::<Read3Args>(args).ok()?;
                self.read_now(&Caller::from_call(ctx), &a, out)
                    .then_some(CallOutcome::Success)
            }
            _ => None,
        }
    }

    /// READ of cached data (see the module docs); false if it declined,
    /// with `out` untouched.
    fn read_now(&self, c: &Caller, a: &Read3Args, out: &mut Results) -> bool {
        let Some((rt, options)) = self.shared.admitted(c, &a.file) else {
            return false;
        };
        if options.subtree_check {
            return false;
        }
        let files = &self.shared.files;
        let Some(file) = files.get(&a.file.0, Access::Read) else {
            return false;
        };
        let answered = (|| {
            let st = fstat(&*file).ok()?;
            let regular = FileType::from_raw_mode(st.st_mode as _) == FileType::RegularFile;
            if st.st_nlink == 0 || !regular {
                return None;
            }
            let creds = options.credentials_for(&c.identity);
            if !file.granted(&creds, rustix::fs::Access::READ_OK, &st) {
                return None;
            }
            let n = read_len(&st, a.offset, a.count.min(self.shared.max_io_size));
            let data = ReadData::take_cached(&*file, a.offset, n)?;
            encode_read_ok(&st, u64::from(rt.id().0), a.offset, data, out);
            Some(())
        })();
        // Never the last close here (the entry may have been evicted
        // meanwhile).
        files.release(file);
        answered.is_some()
    }
}

#[cfg(test)]
mod tests;
