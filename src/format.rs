//! Text formatting shared by the client commands: `ls -l` mode strings,
//! `df -h` sizes, `ls`-style and full timestamps, and column alignment.
//!
//! Pure functions of their arguments (the current time and the time zone
//! are passed in), so they are unit-tested without a server.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Local, TimeZone};

/// The one-character file type of `ls -l`.
pub fn type_char(kind: nfsl_client::FileType) -> char {
    use nfsl_client::FileType as T;
    match kind {
        T::Regular => '-',
        T::Directory => 'd',
        T::Symlink => 'l',
        T::BlockDevice => 'b',
        T::CharDevice => 'c',
        T::Socket => 's',
        T::Fifo => 'p',
    }
}

/// The nine `rwx` characters of `mode`, with setuid/setgid/sticky shown
/// as `ls` does (`s`/`S`, `s`/`S`, `t`/`T`).
pub fn perm_string(mode: u32) -> String {
    let mut s = String::with_capacity(9);
    let special = [(0o4000, 's', 'S'), (0o2000, 's', 'S'), (0o1000, 't', 'T')];
    for (i, (bit, on_x, no_x)) in special.iter().enumerate() {
        let shift = 6 - 3 * i as u32;
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        let x = bits & 1 != 0;
        s.push(match (mode & bit != 0, x) {
            (true, true) => *on_x,
            (true, false) => *no_x,
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// A size in the style of `df -h` / `ls -lh`: powers of 1024, one decimal
/// below 10 of a unit, always rounded up (so a size is never understated).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["", "K", "M", "G", "T", "P", "E"];
    if bytes < 1024 {
        return bytes.to_string();
    }
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value < 10.0 {
        let tenths = (value * 10.0).ceil() / 10.0;
        if tenths < 10.0 {
            return format!("{tenths:.1}{}", UNITS[unit]);
        }
    }
    let whole = value.ceil();
    if whole >= 1024.0 && unit < UNITS.len() - 1 {
        return format!("1.0{}", UNITS[unit + 1]);
    }
    format!("{whole:.0}{}", UNITS[unit])
}

/// A throughput in decimal megabytes per second (what `dd` and the
/// benchmarks print).
pub fn mb_per_sec(bytes: u64, took: Duration) -> f64 {
    let secs = took.as_secs_f64().max(1e-9);
    bytes as f64 / secs / 1e6
}

/// The `ls -l` time column: `Nov 29 08:35` for times within six months of
/// `now` (past or up to an hour ahead), else `Nov 29  2025`.
pub fn ls_time<Tz: TimeZone>(t: SystemTime, now: SystemTime, tz: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    const SIX_MONTHS: Duration = Duration::from_secs(31_556_952 / 2);
    let recent = match now.duration_since(t) {
        Ok(age) => age < SIX_MONTHS,
        Err(ahead) => ahead.duration() < Duration::from_secs(3600),
    };
    let dt: DateTime<Tz> = DateTime::<chrono::Utc>::from(t).with_timezone(tz);
    if recent {
        dt.format("%b %e %H:%M").to_string()
    } else {
        dt.format("%b %e  %Y").to_string()
    }
}

/// The `stat` time: `2026-11-29 08:35:57.123456789 +0000`.
pub fn full_time<Tz: TimeZone>(t: SystemTime, tz: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let dt: DateTime<Tz> = DateTime::<chrono::Utc>::from(t).with_timezone(tz);
    dt.format("%Y-%m-%d %H:%M:%S%.9f %z").to_string()
}

/// The local time zone, as `ls` and `stat` use it.
pub fn local_tz() -> Local {
    Local
}

/// Lays out rows of cells in columns: cells of a column are right-aligned
/// when `right[col]` is true, else left-aligned; the last column is never
/// padded. Columns are separated by one space.
pub fn columns(rows: &[Vec<String>], right: &[bool]) -> Vec<String> {
    let ncols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; ncols];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push(' ');
                }
                let last = i + 1 == row.len();
                let pad = widths[i] - cell.chars().count();
                if right.get(i).copied().unwrap_or(false) {
                    line.extend(std::iter::repeat_n(' ', pad));
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    if !last {
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                }
            }
            line
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn permission_strings_match_ls() {
        assert_eq!(perm_string(0o755), "rwxr-xr-x");
        assert_eq!(perm_string(0o644), "rw-r--r--");
        assert_eq!(perm_string(0o4755), "rwsr-xr-x");
        assert_eq!(perm_string(0o2644), "rw-r-Sr--");
        assert_eq!(perm_string(0o1777), "rwxrwxrwt");
        assert_eq!(perm_string(0o1776), "rwxrwxrwT");
        assert_eq!(perm_string(0), "---------");
    }

    #[test]
    fn human_sizes_match_df_h() {
        assert_eq!(human_size(0), "0");
        assert_eq!(human_size(1023), "1023");
        assert_eq!(human_size(1024), "1.0K");
        assert_eq!(human_size(1025), "1.1K");
        assert_eq!(human_size(10 * 1024), "10K");
        assert_eq!(human_size(10 * 1024 + 1), "11K");
        assert_eq!(human_size(1536 * 1024), "1.5M");
        assert_eq!(human_size(20 << 30), "20G");
        assert_eq!(human_size((1 << 20) - 1), "1.0M");
        assert_eq!(human_size(u64::MAX), "16E");
    }

    #[test]
    fn ls_times_recent_and_old() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_945_000); // 2026-11-29
        let recent = now - Duration::from_secs(3600);
        let old = now - Duration::from_secs(400 * 86_400);
        assert_eq!(ls_time(recent, now, &Utc), "Nov 29 08:36");
        assert_eq!(ls_time(old, now, &Utc), "Oct 25  2025");
        let future = now + Duration::from_secs(86_400 * 30);
        assert_eq!(ls_time(future, now, &Utc), "Dec 29  2026");
    }

    #[test]
    fn full_times_have_nanoseconds_and_zone() {
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_795_945_000, 5);
        assert_eq!(full_time(t, &Utc), "2026-11-29 09:36:40.000000005 +0000");
    }

    #[test]
    fn columns_align() {
        let rows = vec![
            vec!["a".to_string(), "1".to_string(), "x".to_string()],
            vec!["bbb".to_string(), "100".to_string(), "yy".to_string()],
        ];
        assert_eq!(
            columns(&rows, &[false, true, false]),
            vec!["a     1 x", "bbb 100 yy"]
        );
    }
}
