//! MOUNT version 3 calls (MNT, UMNT, EXPORT) and finding which export a
//! URL path is in.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use nfsl_proto::mount3::{
    Dirpath, ExportList, Mount3Procedure, Mountres3, MOUNT_PROGRAM, MOUNT_V3,
};
use nfsl_rpc::OpaqueAuth;
use nfsl_xdr::{decode_exact, Xdr};

use crate::error::{Error, Result};
use crate::types::FileHandle;
use nfsl_transport::client::ProcId;
use nfsl_transport::client::{ClientSettings, RpcClient};

fn mount_proc(p: Mount3Procedure) -> ProcId {
    let name = match p {
        Mount3Procedure::Null => "MOUNT NULL",
        Mount3Procedure::Mnt => "MOUNT MNT",
        Mount3Procedure::Dump => "MOUNT DUMP",
        Mount3Procedure::Umnt => "MOUNT UMNT",
        Mount3Procedure::Umntall => "MOUNT UMNTALL",
        Mount3Procedure::Export => "MOUNT EXPORT",
    };
    ProcId {
        program: MOUNT_PROGRAM,
        version: MOUNT_V3,
        procedure: p as u32,
        name,
    }
}

/// A connection to a MOUNT v3 server.
pub(crate) struct MountClient {
    rpc: RpcClient,
}

impl MountClient {
    pub fn new(addr: SocketAddr, settings: ClientSettings, credential: OpaqueAuth) -> Self {
        MountClient {
            rpc: RpcClient::new(addr, settings, credential, Arc::default()),
        }
    }

    async fn call<A: Xdr, R: Xdr>(&self, p: Mount3Procedure, args: &A) -> Result<R> {
        let id = mount_proc(p);
        let reply = self
            .rpc
            .call(id, |out| args.encode(out), Bytes::new())
            .await?;
        decode_exact(reply.results())
            .map_err(|e| Error::Protocol(format!("{} results: {e}", id.name)))
    }

    /// MNT: the root handle of `path`.
    pub async fn mnt(&self, path: &str) -> Result<FileHandle> {
        match self.call(Mount3Procedure::Mnt, &dirpath(path)?).await? {
            Mountres3::Ok(ok) => Ok(ok.fhandle.into()),
            Mountres3::Err(status) => Err(Error::Mount {
                status,
                path: path.to_string(),
            }),
        }
    }

    /// UMNT: tells the server the mount is gone.
    pub async fn umnt(&self, path: &str) -> Result<()> {
        self.call(Mount3Procedure::Umnt, &dirpath(path)?).await
    }

    /// EXPORT: the exported paths.
    pub async fn exports(&self) -> Result<Vec<String>> {
        let list: ExportList = self.call(Mount3Procedure::Export, &()).await?;
        Ok(list
            .0
            .into_iter()
            .map(|e| String::from_utf8_lossy(&e.dir.0).into_owned())
            .collect())
    }
}

fn dirpath(path: &str) -> Result<Dirpath> {
    if path.len() > Dirpath::MAX_LEN {
        return Err(Error::InvalidArgument(format!(
            "mount path of {} bytes is longer than MNTPATHLEN",
            path.len()
        )));
    }
    Ok(Dirpath(path.as_bytes().to_vec()))
}

/// Whether `export` is `path` or a directory above it (whole components).
fn contains(export: &str, path: &str) -> bool {
    let export = export.trim_end_matches('/');
    export.is_empty()
        || path == export
        || path
            .strip_prefix(export)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The export containing `path` with the longest name, and the rest of
/// `path` inside it (`/`-based, `/` for the export itself).
pub(crate) fn split_export(exports: &[String], path: &str) -> Option<(String, String)> {
    let best = exports
        .iter()
        .filter(|e| e.starts_with('/') && contains(e, path))
        .max_by_key(|e| e.trim_end_matches('/').len())?;
    let rest = &path[best.trim_end_matches('/').len()..];
    let rest = if rest.is_empty() { "/" } else { rest };
    Some((best.clone(), rest.to_string()))
}

/// `path` and each directory above it, longest first, with the rest of
/// the path inside each: the candidates tried with MNT when the export
/// list does not help.
pub(crate) fn prefixes(path: &str) -> Vec<(String, String)> {
    let trimmed = path.trim_end_matches('/');
    let mut out = Vec::new();
    let mut end = trimmed.len();
    loop {
        let prefix = if end == 0 { "/" } else { &trimmed[..end] };
        let rest = &trimmed[end..];
        out.push((
            prefix.to_string(),
            if rest.is_empty() {
                "/".into()
            } else {
                rest.into()
            },
        ));
        if end == 0 {
            break;
        }
        end = trimmed[..end].rfind('/').unwrap_or(0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_export_prefix_wins() {
        let exports = vec![
            "/srv".to_string(),
            "/srv/a".to_string(),
            "/srv/ab".to_string(),
        ];
        assert_eq!(
            split_export(&exports, "/srv/a/x/y"),
            Some(("/srv/a".into(), "/x/y".into()))
        );
        assert_eq!(
            split_export(&exports, "/srv/ab"),
            Some(("/srv/ab".into(), "/".into()))
        );
        assert_eq!(
            split_export(&exports, "/srv/abc"),
            Some(("/srv".into(), "/abc".into()))
        );
        assert_eq!(split_export(&exports, "/other"), None);
        let root = vec!["/".to_string()];
        assert_eq!(split_export(&root, "/x"), Some(("/".into(), "/x".into())));
    }

    #[test]
    fn prefixes_longest_first() {
        assert_eq!(
            prefixes("/a/b/c"),
            vec![
                ("/a/b/c".to_string(), "/".to_string()),
                ("/a/b".into(), "/c".into()),
                ("/a".into(), "/b/c".into()),
                ("/".into(), "/a/b/c".into()),
            ]
        );
        assert_eq!(prefixes("/"), vec![("/".to_string(), "/".to_string())]);
    }
}
