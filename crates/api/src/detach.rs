//! Detach keys (`--detach-keys`, the `detachKeys` query parameter): Docker's key syntax and a
//! scanner that finds the sequence in an attach session's stdin.

/// Docker's default: ctrl-p ctrl-q.
pub const DEFAULT_DETACH_KEYS: &[u8] = &[0x10, 0x11];

/// Parses Docker's detach key syntax: comma-separated single characters or `ctrl-@`,
/// `ctrl-a` … `ctrl-z`, `ctrl-[`, `ctrl-\`, `ctrl-]`, `ctrl-^`, `ctrl-_` (moby/term ToBytes).
pub fn parse_detach_keys(keys: &str) -> Result<Vec<u8>, String> {
    let mut codes = Vec::new();
    for key in keys.split(',') {
        if key.len() == 1 {
            codes.push(key.as_bytes()[0]);
            continue;
        }
        let code = key
            .strip_prefix("ctrl-")
            .and_then(|rest| match rest.as_bytes() {
                [b'@'] => Some(0),
                [c @ b'a'..=b'z'] => Some(c - b'a' + 1),
                [b'['] => Some(27),
                [b'\\'] => Some(28),
                [b']'] => Some(29),
                [b'^'] => Some(30),
                [b'_'] => Some(31),
                _ => None,
            });
        match code {
            Some(c) => codes.push(c),
            None => return Err(format!("Unknown character: '{key}'")),
        }
    }
    Ok(codes)
}

/// Finds the detach sequence in a byte stream split across reads. Bytes that turn out not to
/// be part of the sequence are passed on, in order; the sequence itself never is.
#[derive(Debug, Clone)]
pub struct DetachScanner {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachScanner {
    /// A scanner for `keys`; an empty sequence never detaches.
    pub fn new(keys: Vec<u8>) -> Self {
        DetachScanner { keys, matched: 0 }
    }

    /// Feeds one read's bytes. Appends what should reach the container to `out` and returns
    /// true when the sequence completed (bytes after it in `input` are dropped: the session
    /// ends there).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        if self.keys.is_empty() {
            out.extend_from_slice(input);
            return false;
        }
        for &byte in input {
            if byte == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return true;
                }
                continue;
            }
            // A partial match that broke: its bytes were typed for the container.
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if byte == self.keys[0] {
                self.matched = 1;
                if self.keys.len() == 1 {
                    self.matched = 0;
                    return true;
                }
            } else {
                out.push(byte);
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_key_syntax() {
        assert_eq!(
            parse_detach_keys("ctrl-p,ctrl-q").ok(),
            Some(vec![0x10, 0x11])
        );
        assert_eq!(
            parse_detach_keys("ctrl-@,a,ctrl-_").ok(),
            Some(vec![0, b'a', 31])
        );
        assert_eq!(parse_detach_keys("ctrl-\\").ok(), Some(vec![28]));
        assert!(parse_detach_keys("ctrl-P").is_err());
        assert!(parse_detach_keys("shift-a").is_err());
        assert!(parse_detach_keys("").is_err());
    }

    #[test]
    fn scanner_matches_across_reads_and_passes_other_bytes() {
        let mut s = DetachScanner::new(DEFAULT_DETACH_KEYS.to_vec());
        let mut out = Vec::new();
        assert!(!s.feed(b"ls\n\x10", &mut out));
        assert_eq!(out, b"ls\n");
        assert!(s.feed(b"\x11after", &mut out));
        assert_eq!(
            out, b"ls\n",
            "the sequence and what follows are not forwarded"
        );

        // A broken partial match gives its bytes back, in order.
        let mut s = DetachScanner::new(DEFAULT_DETACH_KEYS.to_vec());
        let mut out = Vec::new();
        assert!(!s.feed(b"\x10x\x10\x10", &mut out));
        assert_eq!(out, b"\x10x\x10");
        assert!(s.feed(b"\x11", &mut out));
    }
}
