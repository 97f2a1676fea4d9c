//! Validation of file name components received from the wire.
//!
//! NFSv3 sends names as opaque byte strings (`filename3`). Before a name is
//! handed to any `*at()` system call it must be a single path component:
//! otherwise `a/../../etc` would walk out of the directory the client named.
//! [`validate_name`] is that gate; every procedure that takes a name (LOOKUP,
//! CREATE, MKDIR, SYMLINK, MKNOD, REMOVE, RMDIR, RENAME, LINK) must call it.
//!
//! What callers must do with the result:
//! - [`Name::Regular`]: pass [`Name::as_os_str`] to the `*at()` call.
//! - [`Name::Dot`]: LOOKUP returns the directory itself; CREATE/MKDIR/
//!   SYMLINK/MKNOD/LINK answer `NFS3ERR_EXIST`; REMOVE/RMDIR/RENAME answer
//!   `NFS3ERR_INVAL` (as Linux's `rmdir(".")` does).
//! - [`Name::DotDot`]: LOOKUP returns the parent, except that at the export
//!   root it returns the root itself (a client must never climb out of the
//!   export); create-type procedures answer `NFS3ERR_EXIST`, REMOVE/RMDIR/
//!   RENAME answer `NFS3ERR_INVAL` (Linux gives `ENOTEMPTY` for rmdir; INVAL
//!   is what knfsd returns).
//! - [`NameError::TooLong`] maps to `NFS3ERR_NAMETOOLONG`; the other errors
//!   to `NFS3ERR_INVAL` (knfsd uses `NFS3ERR_ACCES` for names with `/`;
//!   either is accepted by clients).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// Longest component name accepted, in bytes (Linux `NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// A validated single path component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name<'a> {
    /// `.`: the directory itself.
    Dot,
    /// `..`: the parent directory.
    DotDot,
    /// Any other valid name.
    Regular(&'a OsStr),
}

impl<'a> Name<'a> {
    /// The name as an `OsStr` (`.` and `..` included), for `*at()` calls.
    pub fn as_os_str(&self) -> &'a OsStr {
        match self {
            Name::Dot => OsStr::new("."),
            Name::DotDot => OsStr::new(".."),
            Name::Regular(s) => s,
        }
    }

    /// The name's bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.as_os_str().as_bytes()
    }

    /// True for `.` and `..`, which may not be created, removed or renamed.
    pub fn is_special(&self) -> bool {
        !matches!(self, Name::Regular(_))
    }
}

/// Why a wire name is not a valid component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Zero-length name.
    #[error("empty file name")]
    Empty,
    /// Longer than [`NAME_MAX`] bytes: answer `NFS3ERR_NAMETOOLONG`.
    #[error("file name longer than {NAME_MAX} bytes")]
    TooLong,
    /// Contains `/`, which would make it a path.
    #[error("file name contains '/'")]
    Slash,
    /// Contains a NUL byte, which the kernel would treat as the end.
    #[error("file name contains a NUL byte")]
    Nul,
}

/// Checks that `raw` is one path component and classifies `.` and `..`.
pub fn validate_name(raw: &[u8]) -> Result<Name<'_>, NameError> {
    if raw.is_empty() {
        return Err(NameError::Empty);
    }
    if raw.len() > NAME_MAX {
        return Err(NameError::TooLong);
    }
    if raw.contains(&b'/') {
        return Err(NameError::Slash);
    }
    if raw.contains(&0) {
        return Err(NameError::Nul);
    }
    Ok(match raw {
        b"." => Name::Dot,
        b".." => Name::DotDot,
        _ => Name::Regular(OsStr::from_bytes(raw)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        assert_eq!(validate_name(b"."), Ok(Name::Dot));
        assert_eq!(validate_name(b".."), Ok(Name::DotDot));
        assert_eq!(validate_name(b"...").map(|n| n.as_bytes()), Ok(&b"..."[..]));
        assert_eq!(
            validate_name(b".hidden"),
            Ok(Name::Regular(OsStr::new(".hidden")))
        );
        assert!(Name::Dot.is_special() && Name::DotDot.is_special());
        assert_eq!(Name::DotDot.as_os_str(), OsStr::new(".."));
    }

    #[test]
    fn rejects() {
        assert_eq!(validate_name(b""), Err(NameError::Empty));
        assert_eq!(validate_name(b"a/b"), Err(NameError::Slash));
        assert_eq!(validate_name(b"/"), Err(NameError::Slash));
        assert_eq!(validate_name(b"a\0b"), Err(NameError::Nul));
        assert_eq!(validate_name(&[b'x'; 256]), Err(NameError::TooLong));
    }

    #[test]
    fn accepts_limits_and_non_utf8() {
        assert!(validate_name(&[b'x'; 255]).is_ok());
        assert!(validate_name(&[0xff, 0xfe]).is_ok());
    }
}
