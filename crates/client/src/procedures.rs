//! Every NFSv3 procedure (RFC 1813) as a typed call, plus the two data
//! paths the file API uses: READ decoded straight into the caller's buffer
//! and WRITE sent from a shared buffer without copying it into the record.

use std::sync::Arc;

use bytes::Bytes;

use nfsl_proto::nfs3::*;
use nfsl_proto::NfsResult;
use nfsl_transport::client::Payload;
use nfsl_xdr::{decode_exact, Xdr};

use crate::error::{Error, Result};
use nfsl_transport::client::RpcClient;
use nfsl_transport::client::{ProcId, RpcReply};

/// Typed NFSv3 calls on one connection. Each returns the server's full
/// result (success or failure arm, as in the RFC); an `Err` means the call
/// itself failed (timeout, connection, RPC rejection, malformed reply).
/// Reach it through [`crate::Nfs::procedures`].
#[derive(Clone)]
pub struct Nfs3Procedures {
    rpc: Arc<RpcClient>,
}

/// JUKEBOX answers retried per call, and the pauses between them.
const JUKEBOX_TRIES: u32 = 8;
const JUKEBOX_FIRST_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);
const JUKEBOX_MAX_PAUSE: std::time::Duration = std::time::Duration::from_secs(2);

/// The identity of an NFSv3 procedure on the wire.
pub(crate) fn nfs_proc(p: Nfs3Procedure) -> ProcId {
    use Nfs3Procedure as P;
    let name = match p {
        P::Null => "NFS NULL",
        P::Getattr => "NFS GETATTR",
        P::Setattr => "NFS SETATTR",
        P::Lookup => "NFS LOOKUP",
        P::Access => "NFS ACCESS",
        P::Readlink => "NFS READLINK",
        P::Read => "NFS READ",
        P::Write => "NFS WRITE",
        P::Create => "NFS CREATE",
        P::Mkdir => "NFS MKDIR",
        P::Symlink => "NFS SYMLINK",
        P::Mknod => "NFS MKNOD",
        P::Remove => "NFS REMOVE",
        P::Rmdir => "NFS RMDIR",
        P::Rename => "NFS RENAME",
        P::Link => "NFS LINK",
        P::Readdir => "NFS READDIR",
        P::Readdirplus => "NFS READDIRPLUS",
        P::Fsstat => "NFS FSSTAT",
        P::Fsinfo => "NFS FSINFO",
        P::Pathconf => "NFS PATHCONF",
        P::Commit => "NFS COMMIT",
    };
    ProcId {
        program: NFS_PROGRAM,
        version: NFS_V3,
        procedure: p as u32,
        name,
    }
}

/// What a READ into a caller's buffer produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadOutcome {
    /// Bytes placed at the start of the buffer.
    pub count: usize,
    /// The server reported end of file.
    pub eof: bool,
}

macro_rules! procedures {
    ($($(#[$m:meta])* $name:ident($args:ty) -> $res:ty = $proc:ident;)*) => {
        $(
            $(#[$m])*
            pub async fn $name(&self, args: &$args) -> Result<$res> {
                self.call(Nfs3Procedure::$proc, args).await
            }
        )*
    };
}

impl Nfs3Procedures {
    pub(crate) fn new(rpc: Arc<RpcClient>) -> Self {
        Nfs3Procedures { rpc }
    }

    /// Makes a call; an `NFS3ERR_JUKEBOX` answer (the server is busy,
    /// e.g. recalling data from tape) is retried after a growing pause, a
    /// bounded number of times, as RFC 1813 asks, with a new xid.
    async fn exec(
        &self,
        id: ProcId,
        args: impl Fn(&mut Vec<u8>),
        payload: Payload,
    ) -> Result<RpcReply> {
        let mut pause = JUKEBOX_FIRST_PAUSE;
        for _ in 0..JUKEBOX_TRIES {
            let reply = self.rpc.call(id, &args, payload.clone()).await?;
            if reply.results().get(..4) != Some(&(Nfsstat3::Jukebox as u32).to_be_bytes()[..]) {
                return Ok(reply);
            }
            tracing::debug!(
                "{}: server answered JUKEBOX; retrying in {pause:?}",
                id.name
            );
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(JUKEBOX_MAX_PAUSE);
        }
        Ok(self.rpc.call(id, &args, payload).await?)
    }

    /// Calls `procedure` with `args` and decodes its results as `R` (the
    /// whole results must be one `R`).
    pub async fn call<A: Xdr, R: Xdr>(&self, procedure: Nfs3Procedure, args: &A) -> Result<R> {
        let id = nfs_proc(procedure);
        let reply = self
            .exec(id, |out| args.encode(out), Payload::default())
            .await?;
        decode_exact::<R>(reply.results())
            .map_err(|e| Error::Protocol(format!("{} results: {e}", id.name)))
    }

    /// NULL: does nothing; checks the server answers.
    pub async fn null(&self) -> Result<()> {
        self.call(Nfs3Procedure::Null, &()).await
    }

    procedures! {
        /// GETATTR: an object's attributes.
        getattr(Getattr3Args) -> Getattr3Res = Getattr;
        /// SETATTR: changes attributes.
        setattr(Setattr3Args) -> Setattr3Res = Setattr;
        /// LOOKUP: a name in a directory.
        lookup(Lookup3Args) -> Lookup3Res = Lookup;
        /// ACCESS: which of the asked ACCESS3_* rights the caller has.
        access(Access3Args) -> Access3Res = Access;
        /// READLINK: a symbolic link's contents.
        readlink(Readlink3Args) -> Readlink3Res = Readlink;
        /// READ: bytes of a file (copied into `data`; the file API reads
        /// into the caller's buffer instead).
        read(Read3Args) -> Read3Res = Read;
        /// WRITE: bytes to a file.
        write(Write3Args) -> Write3Res = Write;
        /// CREATE: a regular file.
        create(Create3Args) -> Create3Res = Create;
        /// MKDIR: a directory.
        mkdir(Mkdir3Args) -> Mkdir3Res = Mkdir;
        /// SYMLINK: a symbolic link.
        symlink(Symlink3Args) -> Symlink3Res = Symlink;
        /// MKNOD: a device, socket or FIFO.
        mknod(Mknod3Args) -> Mknod3Res = Mknod;
        /// REMOVE: a non-directory.
        remove(Remove3Args) -> Remove3Res = Remove;
        /// RMDIR: an empty directory.
        rmdir(Rmdir3Args) -> Rmdir3Res = Rmdir;
        /// RENAME: moves a name.
        rename(Rename3Args) -> Rename3Res = Rename;
        /// LINK: a hard link.
        link(Link3Args) -> Link3Res = Link;
        /// READDIR: one page of names.
        readdir(Readdir3Args) -> Readdir3Res = Readdir;
        /// READDIRPLUS: one page of names with attributes and handles.
        readdirplus(Readdirplus3Args) -> Readdirplus3Res = Readdirplus;
        /// FSSTAT: space and file counts.
        fsstat(Fsstat3Args) -> Fsstat3Res = Fsstat;
        /// FSINFO: transfer sizes and properties.
        fsinfo(Fsinfo3Args) -> Fsinfo3Res = Fsinfo;
        /// PATHCONF: POSIX limits.
        pathconf(Pathconf3Args) -> Pathconf3Res = Pathconf;
        /// COMMIT: makes unstable writes durable.
        commit(Commit3Args) -> Commit3Res = Commit;
    }

    /// Sends READ3args (`file`, `offset`, `count`) and returns the reply,
    /// whose results the two READ forms below decode each their own way.
    async fn send_read(&self, file: &NfsFh3, offset: u64, count: u32) -> Result<RpcReply> {
        let args = |out: &mut Vec<u8>| {
            Read3Args {
                file: file.clone(),
                offset,
                count,
            }
            .encode(out)
        };
        self.exec(nfs_proc(Nfs3Procedure::Read), args, Payload::default())
            .await
    }

    /// READ of up to `buf.len()` bytes at `offset`, decoded straight from
    /// the reply record into `buf`. `Ok(Err(status))` is an NFS failure.
    pub(crate) async fn read_into(
        &self,
        file: &NfsFh3,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<std::result::Result<ReadOutcome, Nfsstat3>> {
        let count = u32::try_from(buf.len())
            .map_err(|_| Error::InvalidArgument("READ larger than 4 GiB".into()))?;
        let reply = self.send_read(file, offset, count).await?;
        decode_read(reply.results(), buf)
            .map_err(|e| Error::Protocol(format!("NFS READ results: {e}")))
    }

    /// READ of up to `count` bytes at `offset`, returned as a slice of the
    /// reply record (no copy). `Ok(Err(status))` is an NFS failure.
    pub(crate) async fn read_bytes(
        &self,
        file: &NfsFh3,
        offset: u64,
        count: u32,
    ) -> Result<std::result::Result<(Bytes, bool), Nfsstat3>> {
        let reply = self.send_read(file, offset, count).await?;
        let parsed = parse_read(reply.results(), count as usize)
            .map_err(|e| Error::Protocol(format!("NFS READ results: {e}")))?;
        Ok(parsed.map(|r| {
            let start = reply.results_offset() + r.at;
            (reply.into_bytes().slice(start..start + r.len), r.eof)
        }))
    }

    /// WRITE of `data` at `offset`; the bytes are sent from `data` itself
    /// (its buffer, or its file with `sendfile`).
    pub(crate) async fn write_bytes(
        &self,
        file: &NfsFh3,
        offset: u64,
        data: Payload,
        stable: StableHow,
    ) -> Result<Write3Res> {
        let id = nfs_proc(Nfs3Procedure::Write);
        let count = u32::try_from(data.len())
            .map_err(|_| Error::InvalidArgument("WRITE larger than 4 GiB".into()))?;
        let reply = self
            .exec(
                id,
                |out| {
                    Write3Head {
                        file,
                        offset,
                        count,
                        stable,
                        data_len: count,
                    }
                    .encode(out)
                },
                data,
            )
            .await?;
        decode_exact::<Write3Res>(reply.results())
            .map_err(|e| Error::Protocol(format!("NFS WRITE results: {e}")))
    }
}

/// Where a READ reply's data is, within its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadData {
    /// Offset of the data in the results.
    pub at: usize,
    /// Bytes of data.
    pub len: usize,
    /// The server reported end of file.
    pub eof: bool,
}

/// Parses READ results without copying the data; more than `max` bytes
/// (what was asked for) is malformed.
pub(crate) fn parse_read(
    results: &[u8],
    max: usize,
) -> std::result::Result<std::result::Result<ReadData, Nfsstat3>, nfsl_xdr::XdrError> {
    Ok(match decode_read3_res(results, max)? {
        NfsResult::Ok(r) => Ok(ReadData {
            at: r.data_at,
            len: r.data.len(),
            eof: r.eof,
        }),
        NfsResult::Err(status, _) => Err(status),
    })
}

/// Decodes READ results, copying the data into `buf`; more data than
/// `buf` holds is malformed (the server was asked for `buf.len()`).
pub(crate) fn decode_read(
    results: &[u8],
    buf: &mut [u8],
) -> std::result::Result<std::result::Result<ReadOutcome, Nfsstat3>, nfsl_xdr::XdrError> {
    Ok(parse_read(results, buf.len())?.map(|r| {
        buf[..r.len].copy_from_slice(&results[r.at..r.at + r.len]);
        ReadOutcome {
            count: r.len,
            eof: r.eof,
        }
    }))
}

/// Turns an NFS result into its success arm or an [`Error::Nfs`].
pub(crate) fn ok<T, F>(res: NfsResult<T, F>, op: &'static str, path: &str) -> Result<T> {
    match res {
        NfsResult::Ok(v) => Ok(v),
        NfsResult::Err(status, _) => Err(Error::nfs(status, op, path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nfsl_xdr::encode_to_vec;

    #[test]
    fn read_results_land_in_the_buffer() {
        let res: Read3Res = NfsResult::Ok(Read3ResOk {
            file_attributes: None,
            count: 5,
            eof: true,
            data: Data(b"hello".to_vec()),
        });
        let mut buf = [0u8; 8];
        let out = decode_read(&encode_to_vec(&res), &mut buf)
            .unwrap()
            .unwrap();
        assert_eq!(
            out,
            ReadOutcome {
                count: 5,
                eof: true
            }
        );
        assert_eq!(&buf[..5], b"hello");
        assert_eq!(
            parse_read(&encode_to_vec(&res), 8).unwrap().unwrap(),
            ReadData {
                at: 20,
                len: 5,
                eof: true
            }
        );
        // More than asked for, a count that disagrees, trailing bytes.
        let mut small = [0u8; 4];
        assert!(decode_read(&encode_to_vec(&res), &mut small).is_err());
        let mut bad = res.clone();
        if let NfsResult::Ok(ok) = &mut bad {
            ok.count = 4;
        }
        assert!(decode_read(&encode_to_vec(&bad), &mut buf).is_err());
        let mut long = encode_to_vec(&res);
        long.extend_from_slice(&[0; 4]);
        assert!(decode_read(&long, &mut buf).is_err());
        let err: Read3Res = NfsResult::Err(Nfsstat3::Stale, None);
        assert_eq!(
            decode_read(&encode_to_vec(&err), &mut buf).unwrap(),
            Err(Nfsstat3::Stale)
        );
    }
}
