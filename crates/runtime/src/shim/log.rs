//! Docker's json-file log format with size-based rotation.
//!
//! One JSON object per line: `{"log":"hello\n","stream":"stdout","time":"...Z"}`. A read that ends
//! without a newline is flushed as its own entry (no buffering across reads). Before an entry would
//! push the file past `max_size`, the files rotate: `LOG` -> `LOG.1` -> ... -> `LOG.(max_file-1)`,
//! the oldest dropped (with `max_file` <= 1 the file is truncated instead).

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// An open json-file log.
pub struct JsonLog {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    max_file: u32,
    buf: Vec<u8>,
}

fn open_append(path: &Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| Error::io("open", path, e))
}

impl JsonLog {
    /// Opens (appends to) `path`. `max_size` 0 means unlimited.
    pub fn open(path: &Path, max_size: u64, max_file: u32) -> Result<JsonLog> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("mkdir", parent, e))?;
        }
        let file = open_append(path)?;
        let size = file
            .metadata()
            .map_err(|e| Error::io("stat", path, e))?
            .len();
        Ok(JsonLog {
            path: path.to_path_buf(),
            file,
            size,
            max_size,
            max_file: max_file.max(1),
            buf: Vec::with_capacity(4096),
        })
    }

    /// Logs one chunk read from `stream` ("stdout" or "stderr"), one entry per line.
    pub fn write(&mut self, stream: &str, data: &[u8]) -> Result<()> {
        let mut tbuf = [0u8; 30];
        let time = rfc3339_now(&mut tbuf);
        let mut rest = data;
        while !rest.is_empty() {
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .map(|i| i + 1)
                .unwrap_or(rest.len());
            let (line, tail) = rest.split_at(end);
            rest = tail;
            let start = self.buf.len();
            encode_entry(&mut self.buf, line, stream, time);
            let entry_len = (self.buf.len() - start) as u64;
            if self.max_size > 0
                && self.size + start as u64 > 0
                && self.size + (start as u64) + entry_len > self.max_size
            {
                // Flush what precedes this entry, rotate, then keep this entry for the new file.
                let entry = self.buf.split_off(start);
                self.flush()?;
                self.rotate()?;
                self.buf = entry;
            }
        }
        self.flush()
    }

    fn flush(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.file
            .write_all(&self.buf)
            .map_err(|e| Error::io("write", &self.path, e))?;
        self.size += self.buf.len() as u64;
        self.buf.clear();
        // Keep the steady-state footprint small after a burst.
        if self.buf.capacity() > 64 * 1024 {
            self.buf.shrink_to(4096);
        }
        Ok(())
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut s = self.path.as_os_str().to_owned();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    fn rotate(&mut self) -> Result<()> {
        if self.max_file <= 1 {
            self.file
                .set_len(0)
                .map_err(|e| Error::io("truncate", &self.path, e))?;
            self.size = 0;
            return Ok(());
        }
        for n in (1..self.max_file - 1).rev() {
            let from = self.rotated(n);
            let to = self.rotated(n + 1);
            match std::fs::rename(&from, &to) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("rename", &from, e)),
            }
        }
        let first = self.rotated(1);
        std::fs::rename(&self.path, &first).map_err(|e| Error::io("rename", &self.path, e))?;
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// Appends one json-file entry (with its trailing newline) to `out`.
pub fn encode_entry(out: &mut Vec<u8>, line: &[u8], stream: &str, time: &str) {
    out.extend_from_slice(b"{\"log\":\"");
    match std::str::from_utf8(line) {
        Ok(s) => escape_into(out, s),
        Err(_) => escape_into(out, &String::from_utf8_lossy(line)),
    }
    out.extend_from_slice(b"\",\"stream\":\"");
    out.extend_from_slice(stream.as_bytes());
    out.extend_from_slice(b"\",\"time\":\"");
    out.extend_from_slice(time.as_bytes());
    out.extend_from_slice(b"\"}\n");
}

/// Formats the current UTC time as RFC 3339 with nanoseconds (`2026-11-22T07:38:45.123456789Z`)
/// into `buf`.
///
/// Why not chrono: this runs for every log entry in every shim, and chrono's formatter pulls a
/// lot of code into each shim's resident memory; this is a few dozen instructions.
pub fn rfc3339_now(buf: &mut [u8; 30]) -> &str {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the struct we own.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    format_rfc3339(ts.tv_sec, ts.tv_nsec as u32, buf)
}

/// Formats `secs`.`nanos` since the epoch (UTC) into `buf`.
pub fn format_rfc3339(secs: i64, nanos: u32, buf: &mut [u8; 30]) -> &str {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let put = |buf: &mut [u8; 30], at: usize, width: usize, mut v: u64| {
        for i in (0..width).rev() {
            buf[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(buf, 0, 4, year.clamp(0, 9999) as u64);
    buf[4] = b'-';
    put(buf, 5, 2, month as u64);
    buf[7] = b'-';
    put(buf, 8, 2, day as u64);
    buf[10] = b'T';
    put(buf, 11, 2, (rem / 3600) as u64);
    buf[13] = b':';
    put(buf, 14, 2, (rem / 60 % 60) as u64);
    buf[16] = b':';
    put(buf, 17, 2, (rem % 60) as u64);
    buf[19] = b'.';
    put(buf, 20, 9, u64::from(nanos.min(999_999_999)));
    buf[29] = b'Z';
    std::str::from_utf8(&buf[..]).unwrap_or("1970-01-01T00:00:00.000000000Z")
}

/// JSON string escaping (quotes, backslash, control characters).
pub fn escape_into(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f | 0x7f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            }
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn timestamps_match_chrono() {
        let mut buf = [0u8; 30];
        for (secs, nanos) in [
            (0i64, 0u32),
            (1_795_333_125, 123_456_789),
            (951_782_400, 5),
            (4_102_444_799, 999_999_999),
        ] {
            let want = chrono::DateTime::from_timestamp(secs, nanos)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
                .unwrap_or_default();
            assert_eq!(format_rfc3339(secs, nanos, &mut buf), want);
        }
        let now = rfc3339_now(&mut buf).to_string();
        assert!(chrono::DateTime::parse_from_rfc3339(&now).is_ok(), "{now}");
    }

    #[test]
    fn entries_are_docker_json_file_lines() -> TestResult {
        let mut out = Vec::new();
        encode_entry(&mut out, b"a \"q\"\t\x01\n", "stdout", "T");
        let v: serde_json::Value = serde_json::from_slice(&out)?;
        assert_eq!(v["log"], "a \"q\"\t\u{1}\n");
        assert_eq!(v["stream"], "stdout");
        assert_eq!(v["time"], "T");
        assert!(out.ends_with(b"}\n"));
        Ok(())
    }

    #[test]
    fn lines_split_and_partial_flushed() -> TestResult {
        let dir = tempfile::tempdir()?;
        let p = dir.path().join("c.log");
        let mut log = JsonLog::open(&p, 0, 1)?;
        log.write("stdout", b"one\ntwo\npart")?;
        log.write("stderr", b"ial\n")?;
        let text = std::fs::read_to_string(&p)?;
        let logs: Vec<serde_json::Value> = text
            .lines()
            .map(serde_json::from_str)
            .collect::<std::result::Result<_, _>>()?;
        let got: Vec<(&str, &str)> = logs
            .iter()
            .map(|v| {
                (
                    v["log"].as_str().unwrap_or(""),
                    v["stream"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("one\n", "stdout"),
                ("two\n", "stdout"),
                ("part", "stdout"),
                ("ial\n", "stderr")
            ]
        );
        Ok(())
    }

    #[test]
    fn rotation_keeps_max_file_files_under_max_size() -> TestResult {
        let dir = tempfile::tempdir()?;
        let p = dir.path().join("c.log");
        let mut log = JsonLog::open(&p, 300, 3)?;
        for i in 0..40 {
            log.write("stdout", format!("line number {i:04}\n").as_bytes())?;
        }
        let names: Vec<String> = {
            let mut v: Vec<String> = std::fs::read_dir(dir.path())?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names, vec!["c.log", "c.log.1", "c.log.2"]);
        for n in &names {
            let len = std::fs::metadata(dir.path().join(n))?.len();
            assert!(len <= 300, "{n} is {len} bytes");
        }
        // The newest line is in c.log, older ones in c.log.1.
        assert!(std::fs::read_to_string(&p)?.contains("line number 0039"));
        let older = std::fs::read_to_string(dir.path().join("c.log.1"))?;
        assert!(!older.contains("0039"));
        Ok(())
    }
}
