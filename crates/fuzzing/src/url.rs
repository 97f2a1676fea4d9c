//! `nfs://` URLs, as the command line and library parse them.

use nfsl_client::NfsUrl;

/// A URL given to the client ([`NfsUrl::parse`]).
///
/// Checks: a parsed URL's host is not empty and its path absolute, and
/// its display form (what nfsl prints and passes on) parses back to the
/// same URL.
pub fn nfs_url(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(url) = NfsUrl::parse(s) {
        assert!(!url.host.is_empty());
        assert!(url.path.starts_with('/'), "{url:?}");
        let shown = url.to_string();
        let again = NfsUrl::parse(&shown).unwrap_or_else(|e| panic!("{s:?} shown as {e}"));
        assert_eq!(again, url, "{s:?} shown as {shown:?}");
    }
}
