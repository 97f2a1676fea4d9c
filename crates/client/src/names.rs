//! Names that come from a server (READDIR and READDIRPLUS entries) are
//! hostile until checked: a caller joins them onto paths, local ones
//! included (`nfsl cp -r`, a FUSE mount), so a name like `../../x` or
//! `/etc/x` would reach outside the directory it was listed in. Each one
//! is checked here, before any caller sees it.

use crate::error::{Error, Result};

/// The longest name accepted from a server, in bytes: Linux's `NAME_MAX`,
/// which no local file system exceeds (NFSv3 itself sets no limit).
pub const MAX_NAME_LEN: usize = 255;

/// Whether a raw entry name is `.` or `..`, which listings skip.
pub(crate) fn is_dot_or_dotdot(raw: &[u8]) -> bool {
    raw == b"." || raw == b".."
}

/// `raw`, a name a server sent in a `what` reply, as one path component:
/// not empty, not `.` or `..`, no `/` and no NUL, at most
/// [`MAX_NAME_LEN`] bytes. Bytes that are not UTF-8 are replaced (lossy),
/// which cannot make a valid name invalid.
pub(crate) fn server_name(raw: &[u8], what: &str) -> Result<String> {
    let refuse = |why: &str| {
        Err(Error::Protocol(format!(
            "{what} entry {:?} is not a valid file name ({why})",
            String::from_utf8_lossy(&raw[..raw.len().min(MAX_NAME_LEN + 1)])
        )))
    };
    if raw.is_empty() {
        return refuse("empty");
    }
    if is_dot_or_dotdot(raw) {
        return refuse("a directory's own entry");
    }
    if raw.contains(&b'/') {
        return refuse("contains '/'");
    }
    if raw.contains(&0) {
        return refuse("contains NUL");
    }
    if raw.len() > MAX_NAME_LEN {
        return refuse("longer than 255 bytes");
    }
    Ok(String::from_utf8_lossy(raw).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn plain_names_pass() {
        for ok in ["a", "file.txt", "..hidden", "...", " ", "a\\b", "ünï"] {
            assert_eq!(server_name(ok.as_bytes(), "READDIR").unwrap(), ok);
        }
        assert_eq!(server_name(&[b'x'; 255], "READDIR").unwrap().len(), 255);
        assert_eq!(server_name(b"\xff", "READDIR").unwrap(), "\u{fffd}");
    }

    #[test]
    fn names_that_leave_a_directory_are_refused() {
        let long = vec![b'x'; 256];
        let bad: [&[u8]; 10] = [
            b"",
            b".",
            b"..",
            b"/",
            b"/etc/passwd",
            b"../x",
            b"a/../../b",
            b"nul\0",
            b"a/",
            &long,
        ];
        for raw in bad {
            let e = server_name(raw, "READDIRPLUS").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Protocol, "{raw:?}");
            assert!(e.to_string().contains("READDIRPLUS entry"), "{e}");
        }
    }
}
