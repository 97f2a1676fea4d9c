//! The server's configuration inputs: exports files and option lists.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::ffi::OsStrExt;
use std::path::Component;

use nfsl_server::exports::{ClientMatch, ExportOptions, ExportTable};

use crate::alloc::{bounded, input_bound};

/// The resolver of [`exports_file`]: every host name is unknown, so the
/// target is pure (a name is an error, as with a failing DNS).
fn no_dns(name: &str) -> Result<Vec<IpAddr>, String> {
    Err(format!("{name}: not resolved while fuzzing"))
}

/// An exports(5) file, parsed by [`ExportTable::parse_with_resolver`].
///
/// Checks: every export path is absolute and lexically normal (no `.`,
/// no empty components), appears once, and has at least one rule; each
/// rule's options survive their own canonical form
/// ([`ExportOptions`]'s `Display`); network rules match their own
/// address; and the table written back out in exports(5) syntax (paths
/// with `\ooo` escapes) parses to the same table. Memory is bounded by
/// the input (with room for one message per unusable client).
pub fn exports_file(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    // Each unusable client (2 bytes of input: `x `) costs one message of
    // about 150 bytes (kept for the log): linear, with a larger factor.
    let limit = input_bound(data.len()) + 128 * data.len();
    let parsed = bounded("exports_file", limit, || {
        ExportTable::parse_with_resolver(&text, &no_dns)
    });
    let Ok(table) = parsed else {
        return;
    };
    let mut written = String::new();
    for (i, export) in table.exports.iter().enumerate() {
        assert!(export.path.is_absolute(), "{:?}", export.path);
        assert!(
            export
                .path
                .components()
                .all(|c| !matches!(c, Component::CurDir)),
            "{:?} is not normalized",
            export.path
        );
        assert!(!export.rules.is_empty());
        assert!(
            table.exports[..i].iter().all(|e| e.path != export.path),
            "{:?} exported twice",
            export.path
        );
        written.push_str(&escape_path(export.path.as_os_str().as_bytes()));
        for rule in &export.rules {
            let opts = rule.options.to_string();
            assert_eq!(ExportOptions::parse_list(&opts).as_ref(), Ok(&rule.options));
            check_client(&rule.client);
            written.push_str(&format!(" {}({opts})", rule.client));
        }
        written.push('\n');
    }
    let again = ExportTable::parse_with_resolver(&written, &no_dns)
        .unwrap_or_else(|e| panic!("written back as {written:?}: {e}"));
    assert_eq!(again, table, "written back as {written:?}");
}

/// A path as an exports(5) token: unusual bytes as `\ooo`.
fn escape_path(path: &[u8]) -> String {
    path.iter()
        .map(|&b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'/' | b'.' | b'_' | b'-' => {
                char::from(b).to_string()
            }
            _ => format!("\\{b:03o}"),
        })
        .collect()
}

fn check_client(client: &ClientMatch) {
    // Wildcard rules would look the client's name up in DNS: not here.
    let probes = [
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
        IpAddr::V6(Ipv4Addr::new(10, 1, 2, 3).to_ipv6_mapped()),
    ];
    match client {
        ClientMatch::Any => assert!(probes.iter().all(|&ip| client.matches(ip))),
        ClientMatch::Host { addrs, .. } => {
            assert!(!addrs.is_empty());
            assert!(addrs.iter().all(|&ip| client.matches(ip)));
        }
        ClientMatch::Network { addr, prefix_len } => {
            let max = if addr.is_ipv4() { 32 } else { 128 };
            assert!(*prefix_len <= max);
            assert!(client.matches(*addr));
            for ip in probes {
                let _ = client.matches(ip);
            }
        }
        ClientMatch::Wildcard { pattern } => {
            assert!(pattern.contains(['*', '?', '[']));
            assert_eq!(*pattern, pattern.to_ascii_lowercase());
        }
    }
}

/// An export option list (`-o` of `nfsl serve`, the `(...)` of an exports
/// line), parsed by [`ExportOptions::parse_list`].
///
/// Checks: accepted options survive their canonical form, and applying
/// the canonical form again changes nothing.
pub fn export_options(data: &[u8]) {
    let Ok(list) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(opts) = ExportOptions::parse_list(list) {
        let canonical = opts.to_string();
        let again = ExportOptions::parse_list(&canonical).expect("canonical options parse");
        assert_eq!(again, opts, "{list:?} -> {canonical:?}");
        assert_eq!(again.to_string(), canonical);
    }
}
