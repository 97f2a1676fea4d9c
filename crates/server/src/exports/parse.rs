//! exports(5) syntax: tokenizing and building the table.
//!
//! Lexical rules: `#` at the start of a token begins a comment running to
//! the end of the physical line; a backslash before a newline continues
//! the entry on the next line (acting as white space between tokens, and
//! vanishing inside quotes); `\ooo` (three octal digits) is that byte, as
//! `exportfs` writes unusual characters; any other backslash is literal;
//! double quotes quote white space and `#` and may appear anywhere in a
//! token (`"/a b"`, `/srv/"x y"`).
//!
//! Entry grammar: `path [-default_opts] [client[(opts)]]...`, where a
//! `-opts` token (allowed anywhere after the path) changes the defaults for
//! the clients after it, and a path with no clients is exported to `*`.
//! A `(opts)` token with no client name means `*(opts)`, as knfsd does
//! (with a warning: `host (rw)` gives `host` read-only and everyone
//! read-write).

use std::ffi::OsStr;
use std::net::IpAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::ExportsError;
use super::{normalize, ClientMatch, Export, ExportId, ExportOptions, ExportRule, ExportTable};

/// One token and the physical line it starts on.
struct Token {
    bytes: Vec<u8>,
    line: usize,
}

fn err(line: usize, message: impl Into<String>) -> ExportsError {
    ExportsError::Syntax {
        line,
        message: message.into(),
    }
}

/// Splits `text` into entries (logical lines) of tokens.
fn tokenize(text: &str) -> Result<Vec<Vec<Token>>, ExportsError> {
    let b = text.as_bytes();
    let mut entries = Vec::new();
    let mut entry: Vec<Token> = Vec::new();
    let mut tok: Option<Token> = None;
    let mut quote_line: Option<usize> = None;
    let mut line = 1;
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        i += 1;
        if c == b'\\' {
            let rest = b.get(i..).unwrap_or_default();
            let nl = if rest.starts_with(b"\n") {
                1
            } else if rest.starts_with(b"\r\n") {
                2
            } else {
                0
            };
            if nl > 0 {
                i += nl;
                line += 1;
                if quote_line.is_none() {
                    entry.extend(tok.take());
                }
                continue;
            }
            let byte = match rest.get(..3) {
                Some(&[d0 @ b'0'..=b'3', d1 @ b'0'..=b'7', d2 @ b'0'..=b'7']) => {
                    i += 3;
                    (d0 - b'0') << 6 | (d1 - b'0') << 3 | (d2 - b'0')
                }
                _ => b'\\',
            };
            token_at(&mut tok, line).bytes.push(byte);
            continue;
        }
        if let Some(ql) = quote_line {
            match c {
                b'"' => quote_line = None,
                b'\n' => return Err(err(ql, "unterminated quote")),
                _ => token_at(&mut tok, line).bytes.push(c),
            }
            continue;
        }
        match c {
            b'"' => {
                token_at(&mut tok, line);
                quote_line = Some(line);
            }
            b'#' if tok.is_none() => {
                while b.get(i).is_some_and(|&c| c != b'\n') {
                    i += 1;
                }
            }
            b' ' | b'\t' | b'\r' => entry.extend(tok.take()),
            b'\n' => {
                entry.extend(tok.take());
                if !entry.is_empty() {
                    entries.push(std::mem::take(&mut entry));
                }
                line += 1;
            }
            _ => token_at(&mut tok, line).bytes.push(c),
        }
    }
    if let Some(ql) = quote_line {
        return Err(err(ql, "unterminated quote"));
    }
    entry.extend(tok.take());
    if !entry.is_empty() {
        entries.push(entry);
    }
    Ok(entries)
}

/// Parses a whole exports file as `exportfs` reads one: an entry that
/// cannot be used (bad options, a relative path) is left out, and so is a
/// client that cannot be (an unresolvable host, a netgroup); each is one
/// error in the returned list. An entry whose clients were all left out is
/// left out too: it never falls back to exporting to everyone. Only a file
/// that cannot be split into entries (an unterminated quote) fails whole.
pub(super) fn parse(
    text: &str,
    resolve: &dyn Fn(&str) -> Result<Vec<IpAddr>, String>,
) -> Result<(ExportTable, Vec<ExportsError>), ExportsError> {
    let mut table = ExportTable::default();
    let mut skipped = Vec::new();
    for entry in tokenize(text)? {
        if let Err(e) = parse_entry(&entry, resolve, &mut table, &mut skipped) {
            skipped.push(e);
        }
    }
    Ok((table, skipped))
}

fn parse_entry(
    entry: &[Token],
    resolve: &dyn Fn(&str) -> Result<Vec<IpAddr>, String>,
    table: &mut ExportTable,
    skipped: &mut Vec<ExportsError>,
) -> Result<(), ExportsError> {
    let Some((path_tok, clients)) = entry.split_first() else {
        return Ok(());
    };
    let path = Path::new(OsStr::from_bytes(&path_tok.bytes));
    if !path.is_absolute() {
        return Err(err(
            path_tok.line,
            format!("export path '{}' is not absolute", path.display()),
        ));
    }
    let path = normalize(path);
    let mut defaults = ExportOptions::default();
    let mut rules = Vec::new();
    let mut clients_skipped = 0;
    for t in clients {
        let text = std::str::from_utf8(&t.bytes)
            .map_err(|_| err(t.line, "client specification is not valid UTF-8"))?;
        if let Some(opts) = text.strip_prefix('-') {
            if opts.is_empty() {
                return Err(err(t.line, "empty default option list '-'"));
            }
            defaults.apply(opts).map_err(|m| err(t.line, m))?;
            continue;
        }
        let (spec, opts) = split_client(text).map_err(|m| err(t.line, m))?;
        if spec.is_empty() {
            tracing::warn!(
                line = t.line,
                "no host name before '({opts})'; exporting {} to everyone (write '*({opts})')",
                path.display()
            );
        }
        let mut options = defaults.clone();
        options.apply(opts).map_err(|m| err(t.line, m))?;
        match ClientMatch::parse(spec, resolve) {
            Ok(client) => rules.push(ExportRule { client, options }),
            Err(m) => {
                clients_skipped += 1;
                skipped.push(err(
                    t.line,
                    format!("{m}; {} not exported to it", short_path(&path)),
                ));
            }
        }
    }
    if rules.is_empty() && clients_skipped > 0 {
        return Err(err(
            path_tok.line,
            format!("no usable client for {}: not exported", path.display()),
        ));
    }
    if rules.is_empty() {
        tracing::warn!(
            line = path_tok.line,
            "no clients for {}; exporting to everyone ('*')",
            path.display()
        );
        rules.push(ExportRule {
            client: ClientMatch::Any,
            options: defaults,
        });
    }
    add(table, path, rules, path_tok.line)
}

/// `path` for a message repeated per client: a long one is cut, so the
/// messages about a line cost memory linear in the line, not in its
/// clients times its path.
fn short_path(path: &Path) -> String {
    const MAX_CHARS: usize = 64;
    let shown = path.display().to_string();
    match shown.char_indices().nth(MAX_CHARS) {
        Some((at, _)) => format!("{}...", &shown[..at]),
        None => shown,
    }
}

/// Splits `host(opts)` into `("host", "opts")`; `host` alone has no options.
fn split_client(text: &str) -> Result<(&str, &str), String> {
    match text.split_once('(') {
        None if text.contains(')') => Err(format!("unbalanced ')' in '{text}'")),
        None => Ok((text, "")),
        Some((spec, rest)) => match rest.strip_suffix(')') {
            Some(opts) if !opts.contains(['(', ')']) => Ok((spec, opts)),
            _ => Err(format!(
                "malformed options in '{text}': expected client(opt,opt,...)"
            )),
        },
    }
}

/// Adds rules for `path`, merging with an earlier entry for the same path.
/// An entry whose `fsid=` values disagree (among its rules or with an
/// earlier entry's) changes nothing: it is left out whole.
fn add(
    table: &mut ExportTable,
    path: PathBuf,
    rules: Vec<ExportRule>,
    line: usize,
) -> Result<(), ExportsError> {
    let existing = table.exports.iter().position(|e| e.path == path);
    let earlier = existing.map_or(&[][..], |i| &table.exports[i].rules[..]);
    let mut fsids = earlier.iter().chain(&rules).filter_map(|r| r.options.fsid);
    let fsid = fsids.next();
    if let Some(first) = fsid {
        if let Some(other) = fsids.find(|f| *f != first) {
            return Err(err(
                line,
                format!(
                    "conflicting fsid={first} and fsid={other} for {}",
                    path.display()
                ),
            ));
        }
    }
    let export = match existing {
        Some(i) => &mut table.exports[i],
        None => {
            table.exports.push(Export {
                id: ExportId::from_path(&path),
                path,
                rules: Vec::new(),
            });
            let last = table.exports.len() - 1;
            &mut table.exports[last]
        }
    };
    export.rules.extend(rules);
    if let Some(id) = fsid {
        export.id = ExportId(id);
    }
    Ok(())
}

/// The token being built, started on `line` if there is none yet.
fn token_at(tok: &mut Option<Token>, line: usize) -> &mut Token {
    tok.get_or_insert_with(|| Token {
        bytes: Vec::new(),
        line,
    })
}
