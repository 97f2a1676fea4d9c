//! `nfsl cp [-r] SRC... DST`: copies between this machine and NFS servers
//! in any direction (local -> NFS, NFS -> local, NFS -> NFS, and local ->
//! local). Arguments starting with `nfs://` are URLs; others are local.
//!
//! Semantics follow `cp`:
//! - `DST` an existing directory: each `SRC` is copied into it under its
//!   own name; several sources need such a directory.
//! - An existing regular file at the destination is overwritten (truncated
//!   and rewritten, keeping its mode); a new one gets the source's
//!   permission bits less the umask.
//! - Directories need `-r`; symlinks inside a tree are recreated as links;
//!   devices, FIFOs and sockets are refused.
//!
//! Never losing data: the whole tree is checked before anything is
//! written (a file copied onto itself, a directory into itself, a file
//! over a directory and the reverse are refused up front); a destination
//! is truncated only once its source is open; and NFS destinations are
//! committed (COMMIT after UNSTABLE writes) before `cp` moves on, so exit
//! status 0 means every byte is stable on the server. A failure stops the
//! copy at once with one error line; files already copied stay.

mod file;
mod node;

use self::file::Target;
use self::node::{Info, Kind, Node};
use crate::endpoint::{umask, ArgContext, Endpoint, Remote};
use crate::progress::Progress;

/// Arguments of `nfsl cp`.
#[derive(clap::Args)]
pub struct CpArgs {
    /// Copy directories recursively.
    #[arg(short = 'r', short_alias = 'R', long = "recursive")]
    recursive: bool,
    /// No progress bar.
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// What to copy (local paths or nfs:// URLs).
    #[arg(required = true, num_args = 1.., value_name = "SRC")]
    sources: Vec<String>,
    /// Where to copy it: a directory to copy into, or the copy's name.
    #[arg(required = true, value_name = "DST")]
    dest: String,
}

/// One thing to do, in order.
enum Step {
    /// Make a directory (unless it exists).
    Dir { dst: Node, mode: u32, exists: bool },
    /// Copy a regular file's bytes.
    File {
        src: Node,
        dst: Node,
        target: Target,
        mode: u32,
        size: u64,
    },
    /// Recreate a symlink, in place of the non-directory at `dst` if
    /// `replace` (as `cp -r` replaces one: coreutils unlinks an existing
    /// non-directory before copying a symlink onto it).
    Link {
        dst: Node,
        target: String,
        replace: bool,
    },
    /// Give a directory its final mode (after its contents are written).
    Mode { dst: Node, mode: u32 },
}

pub async fn run(args: CpArgs) -> anyhow::Result<()> {
    let (dst_arg, src_args) = (&args.dest, &args.sources);
    let dst = open_node(dst_arg).await.arg_context("cp", dst_arg)?;
    let dst_info = dst.stat().await.arg_context("cp", dst_arg)?;
    let into_dir = dst_info.is_some_and(|i| i.kind == Kind::Dir);
    let wants_dir = Endpoint::parse(dst_arg)?.ends_in_slash();
    if src_args.len() > 1 && !into_dir {
        anyhow::bail!("cp: target '{dst_arg}' is not a directory");
    }
    if wants_dir && dst_info.is_some() && !into_dir {
        anyhow::bail!("cp: failed to access '{dst_arg}': Not a directory");
    }
    let umask = umask();
    let mut steps = Vec::new();
    for src_arg in src_args {
        let dst_end = DstEnd {
            node: &dst,
            arg: dst_arg,
            into_dir,
            wants_dir,
        };
        plan_arg(src_arg, &dst_end, args.recursive, umask, &mut steps)
            .await
            .arg_context("cp", src_arg)?;
    }
    let total = steps
        .iter()
        .map(|s| match s {
            Step::File { size, .. } => *size,
            _ => 0,
        })
        .sum();
    let progress = Progress::new(total, args.quiet);
    let result = execute(steps, &progress).await;
    progress.finish();
    result
}

async fn open_node(arg: &str) -> anyhow::Result<Node> {
    Ok(match Endpoint::parse(arg)? {
        Endpoint::Local(p) => Node::Local(p),
        Endpoint::Nfs(url) => Node::Nfs(Remote::connect(&url).await?),
    })
}

/// The destination argument as planning needs it.
struct DstEnd<'a> {
    node: &'a Node,
    arg: &'a str,
    /// It is an existing directory: sources go inside it.
    into_dir: bool,
    /// It ends in `/`: only a directory may be made there.
    wants_dir: bool,
}

/// Plans the copy of one source argument.
async fn plan_arg(
    src_arg: &str,
    dst_end: &DstEnd<'_>,
    recursive: bool,
    umask: u32,
    steps: &mut Vec<Step>,
) -> anyhow::Result<()> {
    let (dst, into_dir) = (dst_end.node, dst_end.into_dir);
    let src = open_node(src_arg).await?;
    let info = src
        .stat()
        .await?
        .ok_or_else(|| anyhow::anyhow!("no such file or directory"))?;
    if dst_end.wants_dir && !into_dir && info.kind != Kind::Dir {
        anyhow::bail!(
            "cannot create regular file '{}': Not a directory",
            dst_end.arg
        );
    }
    let target = if into_dir {
        let name = src
            .file_name()
            .ok_or_else(|| anyhow::anyhow!("cannot tell what to name the copy"))?;
        dst.child(&name)
    } else {
        dst.clone()
    };
    match info.kind {
        Kind::Dir if !recursive => anyhow::bail!("-r not given; omitting directory"),
        Kind::Dir if target.is_within(&src) => {
            anyhow::bail!("cannot copy a directory into itself ({})", target.display())
        }
        Kind::Symlink if !recursive => {
            anyhow::bail!("is a symbolic link on the server (nfsl does not follow it; use -r to copy the link)")
        }
        Kind::Special => anyhow::bail!("not a regular file, directory or symlink"),
        _ => {}
    }
    plan_tree(src, info, target, umask, steps).await
}

/// Walks `src` (depth first, parents before children) adding the steps
/// that recreate it at `dst`, checking each destination as it goes.
async fn plan_tree(
    src: Node,
    info: Info,
    dst: Node,
    umask: u32,
    steps: &mut Vec<Step>,
) -> anyhow::Result<()> {
    let mut stack = vec![(src, info, dst)];
    let mut fix_modes = Vec::new();
    while let Some((src, info, dst)) = stack.pop() {
        let existing = dst.lstat().await?;
        let clash = |what: &str| {
            anyhow::anyhow!(
                "cannot overwrite {what} {} with {}",
                dst.display(),
                src.display()
            )
        };
        match info.kind {
            Kind::Dir => {
                let exists = match existing {
                    Some(e) if e.kind == Kind::Dir => true,
                    Some(_) => return Err(clash("non-directory")),
                    None => false,
                };
                let mode = info.mode & 0o777 & !umask;
                steps.push(Step::Dir {
                    dst: dst.clone(),
                    mode: mode | 0o700,
                    exists,
                });
                if !exists && mode & 0o700 != 0o700 {
                    fix_modes.push(Step::Mode {
                        dst: dst.clone(),
                        mode,
                    });
                }
                let names = src.list().await?;
                for name in names.iter().rev() {
                    let child = src.child(name);
                    match child.lstat().await? {
                        Some(ci) if ci.kind == Kind::Special => {
                            anyhow::bail!(
                                "{}: not a regular file, directory or symlink",
                                child.display()
                            )
                        }
                        Some(ci) => stack.push((child, ci, dst.child(name))),
                        None => {} // removed while we looked
                    }
                }
            }
            Kind::File => {
                let target = match existing {
                    Some(_) => Target::Existing,
                    None => Target::New,
                };
                if let Some(e) = existing {
                    if e.kind == Kind::Dir {
                        return Err(clash("directory"));
                    }
                    if src.same_namespace(&dst) && e.id == info.id {
                        anyhow::bail!("{} is the source itself", dst.display());
                    }
                }
                steps.push(Step::File {
                    src,
                    dst,
                    target,
                    mode: info.mode & 0o777 & !umask,
                    size: info.size,
                });
            }
            Kind::Symlink => {
                let replace = match existing {
                    Some(e) if e.kind == Kind::Dir => {
                        anyhow::bail!(
                            "cannot overwrite directory {} with non-directory {}",
                            dst.display(),
                            src.display()
                        )
                    }
                    Some(_) => true,
                    None => false,
                };
                let target = src.read_link().await?;
                steps.push(Step::Link {
                    dst,
                    target,
                    replace,
                });
            }
            Kind::Special => {
                anyhow::bail!(
                    "{}: not a regular file, directory or symlink",
                    src.display()
                )
            }
        }
    }
    steps.extend(fix_modes.into_iter().rev());
    Ok(())
}

async fn execute(steps: Vec<Step>, progress: &Progress) -> anyhow::Result<()> {
    for step in steps {
        match step {
            Step::Dir { dst, mode, exists } => {
                if !exists {
                    dst.mkdir(mode)
                        .await
                        .map_err(|e| e.context(format!("cp: mkdir {}", dst.display())))?;
                }
            }
            Step::File {
                src,
                dst,
                target,
                mode,
                size: _,
            } => {
                progress.set_message(src.file_name().unwrap_or_default());
                file::copy_file(&src, &dst, target, mode, progress)
                    .await
                    .map_err(|e| e.context(format!("cp {} {}", src.display(), dst.display())))?;
            }
            Step::Link {
                dst,
                target,
                replace,
            } => {
                if replace {
                    dst.remove_file()
                        .await
                        .map_err(|e| e.context(format!("cp: cannot remove {}", dst.display())))?;
                }
                dst.symlink(&target)
                    .await
                    .map_err(|e| e.context(format!("cp: symlink {}", dst.display())))?
            }
            Step::Mode { dst, mode } => dst
                .set_mode(mode)
                .await
                .map_err(|e| e.context(format!("cp: chmod {}", dst.display())))?,
        }
    }
    Ok(())
}
