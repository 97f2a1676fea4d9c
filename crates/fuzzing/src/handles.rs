//! The server's file handles: whatever a client sends as an `nfs_fh3`.

use std::path::PathBuf;
use std::sync::OnceLock;

use nfsl_server::exports::ExportId;
use nfsl_server::handle::{handle_export_id, Access, ExportFs, HandleError, HandleKey, Scheme};

/// The key the target's exports authenticate handles with.
pub const HANDLE_KEY: [u8; 32] = [7; 32];
/// The id of the target's export.
pub const EXPORT_ID: ExportId = ExportId(0x6e66_736c);

struct Exports {
    /// Kernel handles where the kernel allows them (else inode handles).
    default: ExportFs,
    /// Inode-number handles on the same directory.
    inode: ExportFs,
}

/// An empty directory under the system's temporary directory, the same
/// one on every run (so runs leave nothing behind).
pub(crate) fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nfsl-fuzz-{name}"));
    std::fs::create_dir_all(&dir).expect("fuzz scratch directory");
    dir
}

fn exports() -> &'static Exports {
    static EXPORTS: OnceLock<Exports> = OnceLock::new();
    EXPORTS.get_or_init(|| {
        let dir = scratch_dir("handles");
        let key = HandleKey::new(HANDLE_KEY);
        Exports {
            default: ExportFs::open(&dir, EXPORT_ID, key.clone()).expect("export"),
            inode: ExportFs::open_with_scheme(&dir, EXPORT_ID, key, Scheme::Inode)
                .expect("inode export"),
        }
    })
}

/// The root handle of the target's export (for seeds).
pub fn root_handle() -> Vec<u8> {
    exports().default.root_handle().as_bytes().to_vec()
}

/// A handle from the wire, resolved by both handle schemes.
///
/// Checks: anything but a handle this server issued is refused as
/// `BadHandle` (or `Stale` for a genuine handle of the other scheme),
/// without opening anything; the issued root handle resolves to the
/// export's root; [`handle_export_id`] only names an export for inputs
/// of a handle's size and layout.
pub fn file_handle(data: &[u8]) {
    let ex = exports();
    if let Some(id) = handle_export_id(data) {
        assert!((22..=64).contains(&data.len()) && data[0] == 1);
        assert_eq!(id.0.to_be_bytes(), data[2..6]);
    }
    for (fs, other) in [(&ex.default, &ex.inode), (&ex.inode, &ex.default)] {
        let issued = fs.root_handle().as_bytes() == data;
        match fs.resolve(data, Access::Path) {
            Ok(fd) => {
                assert!(issued, "a handle we never issued resolved");
                assert!(fs.is_root(&fd).expect("fstat"));
            }
            Err(HandleError::BadHandle) => assert!(!issued),
            Err(HandleError::Stale) => {
                // Only a genuine handle of the other scheme is stale here.
                let theirs = other.root_handle().as_bytes() == data;
                assert!(
                    theirs && fs.scheme() != other.scheme(),
                    "stale for {data:02x?}"
                );
            }
            Err(e) => panic!("unexpected error {e} for {data:02x?}"),
        }
    }
}
