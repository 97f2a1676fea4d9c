//! `-o` options of `nfsl mount`, as nfs(5) names them where nfs(5) has
//! them: attribute-cache times, `noac`, `ro`, `localio=`, `uid=`/`gid=`,
//! plus FUSE's `allow_other` and nfsl's `passthrough=`.

use std::time::Duration;

use nfsl_client::LocalioMode;

/// Whether opens may be answered as FUSE passthrough files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PassthroughMode {
    /// When the file's LOCALIO open works and the kernel and privileges
    /// allow it; otherwise the daemon serves the IO (the reason is logged
    /// once and shown in the mount's stats).
    #[default]
    Auto,
    /// As `Auto`, but the mount fails if the kernel or the daemon's
    /// privileges cannot do passthrough at all.
    On,
    /// Never: the daemon serves all IO.
    Off,
}

/// Parsed mount options. [`MountOptions::default`] is nfs(5)'s defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Minimum attribute cache time of regular files (`acregmin`, 3 s).
    pub acregmin: Duration,
    /// Maximum for regular files (`acregmax`, 60 s).
    pub acregmax: Duration,
    /// Minimum for directories (`acdirmin`, 30 s).
    pub acdirmin: Duration,
    /// Maximum for directories (`acdirmax`, 60 s).
    pub acdirmax: Duration,
    /// Read-only mount (`ro`; `rw` is the default).
    pub read_only: bool,
    /// `localio=auto|on|off` (default: the URL's, else auto).
    pub localio: Option<LocalioMode>,
    /// `passthrough=auto|on|off`.
    pub passthrough: PassthroughMode,
    /// `uid=`: send every request as this user instead of the caller.
    pub uid: Option<u32>,
    /// `gid=`: send every request with this group instead of the caller's.
    pub gid: Option<u32>,
    /// `allow_other`: users other than the mounter may use the mount.
    pub allow_other: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            acregmin: Duration::from_secs(3),
            acregmax: Duration::from_secs(60),
            acdirmin: Duration::from_secs(30),
            acdirmax: Duration::from_secs(60),
            read_only: false,
            localio: None,
            passthrough: PassthroughMode::Auto,
            uid: None,
            gid: None,
            allow_other: false,
        }
    }
}

/// A `-o` option that is unknown or has a bad value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("mount option {0}")]
pub struct OptionError(String);

impl MountOptions {
    /// Parses a comma-separated `-o` list (later options win, as in
    /// mount(8)); `actimeo=N` sets all four times, `noac` sets them to 0.
    pub fn parse(list: &str) -> Result<MountOptions, OptionError> {
        let mut o = MountOptions::default();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = match item.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (item, None),
            };
            let secs = |v: Option<&str>| -> Result<Duration, OptionError> {
                let v = v.ok_or_else(|| OptionError(format!("{key} needs a value (seconds)")))?;
                v.parse::<u64>()
                    .ok()
                    .filter(|s| *s <= 3600 * 24 * 365)
                    .map(Duration::from_secs)
                    .ok_or_else(|| OptionError(format!("{key}={v:?}: not a number of seconds")))
            };
            let id = |v: Option<&str>| -> Result<u32, OptionError> {
                let v = v.ok_or_else(|| OptionError(format!("{key} needs a value")))?;
                v.parse::<u32>()
                    .map_err(|_| OptionError(format!("{key}={v:?}: not a number")))
            };
            let flag = |v: Option<&str>| -> Result<(), OptionError> {
                match v {
                    None => Ok(()),
                    Some(_) => Err(OptionError(format!("{key} takes no value"))),
                }
            };
            match key {
                "acregmin" => o.acregmin = secs(value)?,
                "acregmax" => o.acregmax = secs(value)?,
                "acdirmin" => o.acdirmin = secs(value)?,
                "acdirmax" => o.acdirmax = secs(value)?,
                "actimeo" => {
                    let t = secs(value)?;
                    (o.acregmin, o.acregmax, o.acdirmin, o.acdirmax) = (t, t, t, t);
                }
                "noac" => {
                    flag(value)?;
                    let t = Duration::ZERO;
                    (o.acregmin, o.acregmax, o.acdirmin, o.acdirmax) = (t, t, t, t);
                }
                "ro" => {
                    flag(value)?;
                    o.read_only = true;
                }
                "rw" => {
                    flag(value)?;
                    o.read_only = false;
                }
                "allow_other" => {
                    flag(value)?;
                    o.allow_other = true;
                }
                "uid" => o.uid = Some(id(value)?),
                "gid" => o.gid = Some(id(value)?),
                "localio" => {
                    let v = value.unwrap_or("");
                    o.localio = Some(LocalioMode::parse(v).ok_or_else(|| {
                        OptionError(format!("localio={v:?} must be auto, on or off"))
                    })?);
                }
                "passthrough" => {
                    o.passthrough = match value.unwrap_or("") {
                        "auto" => PassthroughMode::Auto,
                        "on" => PassthroughMode::On,
                        "off" => PassthroughMode::Off,
                        v => {
                            return Err(OptionError(format!(
                                "passthrough={v:?} must be auto, on or off"
                            )))
                        }
                    }
                }
                _ => return Err(OptionError(format!("{item:?} is not known"))),
            }
        }
        if o.acregmin > o.acregmax || o.acdirmin > o.acdirmax {
            return Err(OptionError(
                "acregmin/acdirmin must not be larger than acregmax/acdirmax".into(),
            ));
        }
        Ok(o)
    }

    /// How long the kernel may cache attributes (and lookups) of an
    /// object last modified `age` ago: a tenth of its age within
    /// [min, max], as the kernel NFS client's heuristic (files that
    /// changed recently are checked again sooner).
    pub fn attr_timeout(&self, is_dir: bool, age: Duration) -> Duration {
        let (min, max) = if is_dir {
            (self.acdirmin, self.acdirmax)
        } else {
            (self.acregmin, self.acregmax)
        };
        (age / 10).clamp(min, max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let o = MountOptions::parse("").unwrap();
        assert_eq!(o, MountOptions::default());
        let o =
            MountOptions::parse("actimeo=5,ro,allow_other,uid=7,gid=8,passthrough=off,localio=off")
                .unwrap();
        assert_eq!(o.acregmin, Duration::from_secs(5));
        assert_eq!(o.acdirmax, Duration::from_secs(5));
        assert!(o.read_only && o.allow_other);
        assert_eq!((o.uid, o.gid), (Some(7), Some(8)));
        assert_eq!(o.passthrough, PassthroughMode::Off);
        assert_eq!(o.localio, Some(LocalioMode::Off));
        let o = MountOptions::parse("noac").unwrap();
        assert_eq!(
            o.attr_timeout(false, Duration::from_secs(1000)),
            Duration::ZERO
        );
    }

    #[test]
    fn attribute_timeout_follows_age() {
        let o = MountOptions::default();
        assert_eq!(
            o.attr_timeout(false, Duration::ZERO),
            Duration::from_secs(3)
        );
        assert_eq!(
            o.attr_timeout(false, Duration::from_secs(100)),
            Duration::from_secs(10)
        );
        assert_eq!(
            o.attr_timeout(false, Duration::from_secs(10_000)),
            Duration::from_secs(60)
        );
        assert_eq!(
            o.attr_timeout(true, Duration::ZERO),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn bad_options_are_refused() {
        for bad in [
            "bogus",
            "acregmin",
            "acregmin=x",
            "ro=1",
            "passthrough=maybe",
            "uid=-1",
            "acregmin=90,acregmax=10",
        ] {
            assert!(MountOptions::parse(bad).is_err(), "{bad}");
        }
    }
}
