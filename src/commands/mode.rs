//! File modes as `chmod` and `mkdir -m` take them: octal (`755`) or
//! symbolic (`u=rwx,g=rx`, `a+X`, `go-w`, `u+s`, `g=u`), applied to a
//! starting mode as GNU coreutils does. A clause without `ugoa` changes
//! only the bits the umask leaves.

/// A parsed mode argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModeSpec {
    /// An absolute octal mode.
    Octal(u32),
    /// Symbolic clauses, applied in order.
    Symbolic(Vec<Clause>),
}

/// One `who op perms` of a symbolic mode (`ug+rx`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// The permission bits the clause may touch (0 when no `ugoa`: all,
    /// less the umask).
    who: u32,
    /// The operations with their permissions.
    actions: Vec<(char, Perms)>,
}

/// What an operator applies: letters, or a copy of a class's bits.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Perms {
    /// `rwxXst` letters.
    Letters(String),
    /// `u`, `g` or `o`: that class's current bits.
    CopyOf(char),
}

const USER: u32 = 0o4700;
const GROUP: u32 = 0o2070;
const OTHER: u32 = 0o1007;

impl ModeSpec {
    /// Parses `text`, e.g. `0755` or `u=rwx,g=rx`.
    pub fn parse(text: &str) -> Result<ModeSpec, String> {
        let bad = || format!("invalid mode: '{text}'");
        if !text.is_empty() && text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return match u32::from_str_radix(text, 8) {
                Ok(m) if m <= 0o7777 => Ok(ModeSpec::Octal(m)),
                _ => Err(bad()),
            };
        }
        let mut clauses = Vec::new();
        for part in text.split(',') {
            let who_len = part.find(['+', '-', '=']).ok_or_else(bad)?;
            let who = part[..who_len].chars().try_fold(0, |w, c| match c {
                'u' => Ok(w | USER),
                'g' => Ok(w | GROUP),
                'o' => Ok(w | OTHER),
                'a' => Ok(w | USER | GROUP | OTHER),
                _ => Err(bad()),
            })?;
            let mut actions = Vec::new();
            let mut rest = &part[who_len..];
            while let Some(op) = rest.chars().next().filter(|c| "+-=".contains(*c)) {
                rest = &rest[1..];
                let end = rest.find(['+', '-', '=']).unwrap_or(rest.len());
                let perms = &rest[..end];
                rest = &rest[end..];
                let perms = match perms {
                    "u" | "g" | "o" => Perms::CopyOf(perms.chars().next().unwrap_or('u')),
                    p if p.chars().all(|c| "rwxXst".contains(c)) => Perms::Letters(p.into()),
                    _ => return Err(bad()),
                };
                actions.push((op, perms));
            }
            if actions.is_empty() || !rest.is_empty() {
                return Err(bad());
            }
            clauses.push(Clause { who, actions });
        }
        Ok(ModeSpec::Symbolic(clauses))
    }

    /// The mode that results from applying this to `start` (bits 07777)
    /// of a directory if `is_dir` (for `X`), with `umask`.
    pub fn apply(&self, start: u32, is_dir: bool, umask: u32) -> u32 {
        let clauses = match self {
            ModeSpec::Octal(m) => return *m,
            ModeSpec::Symbolic(c) => c,
        };
        let mut mode = start & 0o7777;
        for clause in clauses {
            let (who, mask) = match clause.who {
                0 => (USER | GROUP | OTHER, !umask & 0o7777),
                w => (w, 0o7777),
            };
            for (op, perms) in &clause.actions {
                let bits = match perms {
                    Perms::Letters(l) => letter_bits(l, mode, is_dir),
                    Perms::CopyOf(c) => copy_bits(*c, mode),
                } & who
                    & mask;
                mode = match op {
                    '+' => mode | bits,
                    '-' => mode & !bits,
                    // `=` clears the class's bits, the umask's too (but
                    // keeps a directory's set-id bits, as GNU does), and
                    // sets the new ones.
                    _ => {
                        let keep = if is_dir { 0o6000 } else { 0 };
                        (mode & !(who & !keep)) | bits
                    }
                };
            }
        }
        mode
    }
}

/// The bits for letters, in every class (the caller masks by class).
fn letter_bits(letters: &str, mode: u32, is_dir: bool) -> u32 {
    letters.chars().fold(0, |bits, c| {
        bits | match c {
            'r' => 0o444,
            'w' => 0o222,
            'x' => 0o111,
            'X' if is_dir || mode & 0o111 != 0 => 0o111,
            's' => 0o6000,
            't' => 0o1000,
            _ => 0,
        }
    })
}

/// A class's current rwx bits, copied into every class.
fn copy_bits(class: char, mode: u32) -> u32 {
    let rwx = match class {
        'u' => (mode >> 6) & 7,
        'g' => (mode >> 3) & 7,
        _ => mode & 7,
    };
    rwx * 0o111
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mkdir_mode(spec: &str, umask: u32) -> u32 {
        ModeSpec::parse(spec).unwrap().apply(0o777, true, umask)
    }

    #[test]
    fn octal_modes() {
        assert_eq!(mkdir_mode("755", 0o022), 0o755);
        assert_eq!(mkdir_mode("0700", 0o022), 0o700);
        assert_eq!(mkdir_mode("1777", 0o022), 0o1777);
        assert!(ModeSpec::parse("17777").is_err());
        assert!(ModeSpec::parse("8").is_err());
    }

    #[test]
    fn symbolic_modes_as_gnu_mkdir_computes_them() {
        // Each the same as Debian's GNU mkdir -m (coreutils 9.1) gives
        // with umask 022. (One known difference: GNU's `mkdir -m +t`
        // gives 1755, its mkdir(2) applying the umask to bits the mode
        // did not name; here the mode is sent to the server as computed.)
        assert_eq!(mkdir_mode("u=rwx,g=rx", 0o022), 0o757);
        assert_eq!(mkdir_mode("u=rwx,g=rx,o=", 0o022), 0o750);
        assert_eq!(mkdir_mode("go-w", 0o022), 0o755);
        assert_eq!(mkdir_mode("a=rx", 0o022), 0o555);
        assert_eq!(mkdir_mode("-w", 0o022), 0o577);
        assert_eq!(mkdir_mode("=", 0o022), 0);
        assert_eq!(mkdir_mode("=rx", 0o022), 0o555);
        assert_eq!(mkdir_mode("o=u", 0o022), 0o777);
        assert_eq!(mkdir_mode("g=u-w,o=", 0o022), 0o750);
        assert_eq!(mkdir_mode("a-x,a+X", 0o022), 0o777);
    }

    #[test]
    fn x_is_conditional_on_files() {
        let spec = ModeSpec::parse("a+X").unwrap();
        assert_eq!(spec.apply(0o644, false, 0o022), 0o644);
        assert_eq!(spec.apply(0o744, false, 0o022), 0o755);
    }

    #[test]
    fn nonsense_is_refused() {
        for bad in ["", "u", "u=rwq", "z+x", "u+x,", ",", "u=rwxg", "ug", "u=r,"] {
            assert!(ModeSpec::parse(bad).is_err(), "{bad:?}");
        }
    }
}
