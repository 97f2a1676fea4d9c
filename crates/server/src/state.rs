//! What the server keeps across restarts, and what it must not.
//!
//! The state directory (mode 0700) holds one file, `handle-secret`: 32
//! random bytes (mode 0600) from which the file handle key is derived. It
//! is created once and then only read, so handles stay valid across
//! restarts; deleting it invalidates every handle clients hold.
//!
//! The [`WriteVerifier`] is the opposite: fresh on every start, never
//! stored, so that clients see it change after a restart and resend any
//! UNSTABLE writes the old instance may have lost.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{RenameFlags, CWD};

use crate::handle::HandleKey;

/// Name of the secret file inside the state directory.
const SECRET_FILE: &str = "handle-secret";

/// The NFSv3 `writeverf3` of this server instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WriteVerifier(pub [u8; 8]);

/// The loaded server state.
#[derive(Debug)]
pub struct ServerState {
    dir: PathBuf,
    secret: [u8; 32],
    verifier: WriteVerifier,
}

impl ServerState {
    /// Opens (creating if needed) the state directory `dir`, loads or
    /// creates the handle secret, and picks a new write verifier.
    ///
    /// The secret is created atomically: written to a temporary file,
    /// synced, then renamed into place with `RENAME_NOREPLACE` so that two
    /// servers starting at once agree on one secret. An existing secret of
    /// the wrong size is an error, never silently replaced.
    pub fn open(dir: &Path) -> io::Result<ServerState> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let mode = fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(dir = %dir.display(), "state directory is accessible to other users (mode {:o})", mode & 0o777);
        }
        let secret = match read_secret(dir)? {
            Some(s) => s,
            None => create_secret(dir)?,
        };
        Ok(ServerState {
            dir: dir.to_path_buf(),
            secret,
            verifier: WriteVerifier(rand::random()),
        })
    }

    /// The default state directory: `/var/lib/nfsl` when running as root,
    /// else `$XDG_STATE_HOME/nfsl`, else `$HOME/.local/state/nfsl`; `None`
    /// if none of these can be determined.
    pub fn default_dir() -> Option<PathBuf> {
        if rustix::process::geteuid().is_root() {
            return Some(PathBuf::from("/var/lib/nfsl"));
        }
        let absolute = |v: std::ffi::OsString| {
            let p = PathBuf::from(v);
            p.is_absolute().then_some(p)
        };
        if let Some(p) = std::env::var_os("XDG_STATE_HOME").and_then(absolute) {
            return Some(p.join("nfsl"));
        }
        std::env::var_os("HOME")
            .and_then(absolute)
            .map(|h| h.join(".local/state/nfsl"))
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The key that authenticates file handles.
    pub fn handle_key(&self) -> HandleKey {
        HandleKey::new(self.secret)
    }

    /// This instance's write verifier (different on every start).
    pub fn write_verifier(&self) -> WriteVerifier {
        self.verifier
    }
}

/// Reads the secret; `None` if there is none yet.
fn read_secret(dir: &Path) -> io::Result<Option<[u8; 32]>> {
    let path = dir.join(SECRET_FILE);
    let mut f = match fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if f.metadata()?.permissions().mode() & 0o077 != 0 {
        tracing::warn!(path = %path.display(), "handle secret is readable by other users");
    }
    let mut buf = Vec::with_capacity(33);
    Read::by_ref(&mut f).take(33).read_to_end(&mut buf)?;
    let secret: [u8; 32] = buf.as_slice().try_into().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} holds {} bytes, expected 32; remove it to generate a new \
                 secret (this invalidates all file handles)",
                path.display(),
                buf.len()
            ),
        )
    })?;
    Ok(Some(secret))
}

/// Creates a new secret without ever exposing a partial file, or returns
/// the one a concurrent server created first.
fn create_secret(dir: &Path) -> io::Result<[u8; 32]> {
    let secret: [u8; 32] = rand::random();
    let tmp = dir.join(format!(
        ".{SECRET_FILE}.{}.{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&secret)?;
        f.sync_all()?;
        let target = dir.join(SECRET_FILE);
        match rustix::fs::renameat_with(CWD, &tmp, CWD, &target, RenameFlags::NOREPLACE) {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) => {
                return read_secret(dir)?.ok_or_else(|| io::Error::other("secret vanished"));
            }
            // Filesystems without RENAME_NOREPLACE: a plain rename.
            Err(rustix::io::Errno::INVAL) => fs::rename(&tmp, &target)?,
            Err(e) => return Err(e.into()),
        }
        fs::File::open(dir)?.sync_all()?;
        Ok(secret)
    })();
    let _ = fs::remove_file(&tmp);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_persists_and_verifier_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b/state");
        let s1 = ServerState::open(&dir).unwrap();
        assert_eq!(s1.dir(), dir);
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(SECRET_FILE)), 0o600);
        let s2 = ServerState::open(&dir).unwrap();
        assert_eq!(s1.secret, s2.secret);
        assert_ne!(s1.secret, [0; 32]);
        assert_ne!(s1.write_verifier(), s2.write_verifier());
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [SECRET_FILE], "no temporary files left behind");
        let other = ServerState::open(&tmp.path().join("other")).unwrap();
        assert_ne!(other.secret, s1.secret);
    }

    #[test]
    fn handle_keys_follow_the_secret() {
        use crate::exports::ExportId;
        use crate::handle::{Access, ExportFs, HandleError, Scheme};
        let tmp = tempfile::tempdir().unwrap();
        let s1 = ServerState::open(&tmp.path().join("s1")).unwrap();
        let s2 = ServerState::open(&tmp.path().join("s2")).unwrap();
        let open = |s: &ServerState| {
            ExportFs::open_with_scheme(tmp.path(), ExportId(1), s.handle_key(), Scheme::Inode)
                .unwrap()
        };
        let fh = open(&s1).root_handle().clone();
        let again = ServerState::open(&tmp.path().join("s1")).unwrap();
        assert!(open(&again).resolve(fh.as_bytes(), Access::Path).is_ok());
        let r = open(&s2).resolve(fh.as_bytes(), Access::Path);
        assert!(matches!(r, Err(HandleError::BadHandle)));
    }

    #[test]
    fn corrupt_secret_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join(SECRET_FILE), b"short").unwrap();
        let e = ServerState::open(tmp.path()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        fs::write(tmp.path().join(SECRET_FILE), [0u8; 40]).unwrap();
        assert!(ServerState::open(tmp.path()).is_err());
    }

    #[test]
    fn concurrent_creation_agrees() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        let secrets: Vec<[u8; 32]> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|_| s.spawn(|| ServerState::open(&dir).unwrap().secret))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(secrets.iter().all(|s| *s == secrets[0]));
    }

    #[test]
    fn default_dir_for_root() {
        if rustix::process::geteuid().is_root() {
            assert_eq!(
                ServerState::default_dir(),
                Some(PathBuf::from("/var/lib/nfsl"))
            );
        } else {
            assert!(ServerState::default_dir().is_some_and(|p| p.ends_with("nfsl")));
        }
    }
}
