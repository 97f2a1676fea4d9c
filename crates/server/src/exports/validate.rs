//! The startup check of an export table against the filesystem.

use std::collections::HashMap;
use std::path::PathBuf;

use super::{ExportId, ExportTable, ExportsError};

pub(super) fn validate(table: &mut ExportTable) -> Result<(), ExportsError> {
    let mut ids: HashMap<ExportId, PathBuf> = HashMap::new();
    let mut paths: HashMap<PathBuf, PathBuf> = HashMap::new();
    for export in &mut table.exports {
        let path_err = |message: String| ExportsError::Path {
            path: export.path.clone(),
            message,
        };
        let canonical = std::fs::canonicalize(&export.path).map_err(|e| path_err(e.to_string()))?;
        let meta = std::fs::metadata(&canonical).map_err(|e| path_err(e.to_string()))?;
        if !meta.is_dir() {
            return Err(path_err("not a directory".into()));
        }
        if let Some(first) = paths.insert(canonical.clone(), export.path.clone()) {
            return Err(path_err(format!(
                "same directory as export {} ({})",
                first.display(),
                canonical.display()
            )));
        }
        if let Some(first) = ids.insert(export.id, canonical.clone()) {
            return Err(ExportsError::DuplicateId {
                id: export.id,
                first,
                second: canonical,
            });
        }
        export.path = canonical;
    }
    Ok(())
}
