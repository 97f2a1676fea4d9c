//! `name_to_handle_at(2)` and `open_by_handle_at(2)`, which neither rustix
//! nor libc wrap, called through `libc::syscall`.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::OFlags;

/// The kernel's `MAX_HANDLE_SZ`.
const MAX_HANDLE_SZ: usize = 128;

/// `struct file_handle` with room for the largest handle.
#[repr(C)]
struct RawHandle {
    handle_bytes: libc::c_uint,
    handle_type: libc::c_int,
    f_handle: [u8; MAX_HANDLE_SZ],
}

/// A handle returned by the kernel.
pub(super) struct KernelHandle {
    /// The filesystem's handle type.
    pub handle_type: i32,
    /// The mount the file was found on (`/proc/self/mountinfo` id).
    pub mount_id: i32,
    len: usize,
    bytes: [u8; MAX_HANDLE_SZ],
}

impl KernelHandle {
    /// The opaque handle bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len.min(MAX_HANDLE_SZ)]
    }
}

fn cstring(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// The handle of `name` in `dir` (`name` empty: `dir` itself), never
/// following a final symlink (the default: `name_to_handle_at` takes
/// `AT_SYMLINK_FOLLOW` to follow, and rejects `AT_SYMLINK_NOFOLLOW` with
/// EINVAL). No `AT_HANDLE_CONNECTABLE`: handles carry no parent, so they
/// survive renames.
pub(super) fn name_to_handle_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<KernelHandle> {
    let flags = if name.is_empty() {
        libc::AT_EMPTY_PATH
    } else {
        0
    };
    let name = cstring(name)?;
    let mut raw = RawHandle {
        handle_bytes: MAX_HANDLE_SZ as libc::c_uint,
        handle_type: 0,
        f_handle: [0; MAX_HANDLE_SZ],
    };
    let mut mount_id: libc::c_int = 0;
    // SAFETY: `name` is NUL-terminated and outlives the call; `raw` is a
    // `struct file_handle` whose `handle_bytes` matches the space after it;
    // `mount_id` is a valid `int` to write to. The kernel writes only there.
    let r = unsafe {
        libc::syscall(
            libc::SYS_name_to_handle_at,
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut raw as *mut RawHandle,
            &mut mount_id as *mut libc::c_int,
            flags,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(KernelHandle {
        handle_type: raw.handle_type,
        mount_id,
        len: (raw.handle_bytes as usize).min(MAX_HANDLE_SZ),
        bytes: raw.f_handle,
    })
}

/// Opens the file named by a kernel handle on the filesystem of `mount`.
/// Needs CAP_DAC_READ_SEARCH (EPERM otherwise).
pub(super) fn open_by_handle_at(
    mount: BorrowedFd<'_>,
    handle_type: i32,
    bytes: &[u8],
    flags: OFlags,
) -> io::Result<OwnedFd> {
    if bytes.is_empty() || bytes.len() > MAX_HANDLE_SZ {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let mut raw = RawHandle {
        handle_bytes: bytes.len() as libc::c_uint,
        handle_type,
        f_handle: [0; MAX_HANDLE_SZ],
    };
    raw.f_handle[..bytes.len()].copy_from_slice(bytes);
    // SAFETY: `raw` is a valid `struct file_handle` whose `handle_bytes` is
    // within its buffer; the kernel only reads it. The flags are plain bits.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_by_handle_at,
            mount.as_raw_fd(),
            &raw as *const RawHandle,
            flags.bits() as libc::c_int,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us and nothing
    // else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}
