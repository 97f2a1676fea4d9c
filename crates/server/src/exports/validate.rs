//! The check of an export table against the filesystem.

use std::collections::HashMap;
use std::path::PathBuf;

use super::{Export, ExportId, ExportTable, ExportsError};

/// Canonicalizes each export's path and keeps the exports that pass (an
/// existing directory, not the same directory or id as an earlier one);
/// returns why each of the others was removed.
pub(super) fn validate(table: &mut ExportTable) -> Vec<ExportsError> {
    let mut ids: HashMap<ExportId, PathBuf> = HashMap::new();
    let mut paths: HashMap<PathBuf, PathBuf> = HashMap::new();
    let mut refused = Vec::new();
    table
        .exports
        .retain_mut(|export| match check(export, &ids, &paths) {
            Ok(canonical) => {
                ids.insert(export.id, canonical.clone());
                paths.insert(canonical.clone(), export.path.clone());
                export.path = canonical;
                true
            }
            Err(e) => {
                refused.push(e);
                false
            }
        });
    refused
}

/// The canonical path of `export` if it may be served beside the exports
/// already kept.
fn check(
    export: &Export,
    ids: &HashMap<ExportId, PathBuf>,
    paths: &HashMap<PathBuf, PathBuf>,
) -> Result<PathBuf, ExportsError> {
    let path_err = |message: String| ExportsError::Path {
        path: export.path.clone(),
        message,
    };
    let canonical = std::fs::canonicalize(&export.path).map_err(|e| path_err(e.to_string()))?;
    let meta = std::fs::metadata(&canonical).map_err(|e| path_err(e.to_string()))?;
    if !meta.is_dir() {
        return Err(path_err("not a directory".into()));
    }
    if let Some(first) = paths.get(&canonical) {
        return Err(path_err(format!(
            "same directory as export {} ({})",
            first.display(),
            canonical.display()
        )));
    }
    if let Some(first) = ids.get(&export.id) {
        return Err(ExportsError::DuplicateId {
            id: export.id,
            first: first.clone(),
            second: canonical,
        });
    }
    Ok(canonical)
}
