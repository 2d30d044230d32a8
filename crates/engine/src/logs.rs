//! Reading a container's json-file log (written by berth-shim), with Docker's `logs` options,
//! and following it while the container runs (for `logs -f` and attach).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio::sync::{mpsc, watch};

/// One log line as the shim recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// `"stdout"` or `"stderr"`.
    pub stream: String,
    pub time: DateTime<Utc>,
    pub line: Vec<u8>,
}

/// Docker's `logs` query options.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Only the last N lines (after the other filters).
    pub tail: Option<usize>,
    pub follow: bool,
}

impl LogOptions {
    fn wants(&self, entry: &LogEntry) -> bool {
        let stream_ok = match entry.stream.as_str() {
            "stdout" => self.stdout,
            "stderr" => self.stderr,
            _ => false,
        };
        stream_ok
            && self.since.is_none_or(|s| entry.time >= s)
            && self.until.is_none_or(|u| entry.time <= u)
    }
}

#[derive(Deserialize)]
struct RawEntry {
    log: String,
    stream: String,
    time: DateTime<Utc>,
}

fn decode(line: &[u8]) -> Option<LogEntry> {
    let raw: RawEntry = serde_json::from_slice(line).ok()?;
    Some(LogEntry {
        stream: raw.stream,
        time: raw.time,
        line: raw.log.into_bytes(),
    })
}

/// The log files of a container, oldest first: `LOG.(n)`, …, `LOG.1`, `LOG`.
fn rotated_files(path: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for n in (1..100).rev() {
        let rotated = PathBuf::from(format!("{}.{n}", path.display()));
        if rotated.exists() {
            files.push(rotated);
        }
    }
    files.push(path.to_path_buf());
    files
}

/// Reads every recorded entry matching `options`, and returns a follower positioned right
/// after the last line read, so following continues without a gap or a repeat.
pub fn read_history(path: &Path, options: &LogOptions) -> (Vec<LogEntry>, Follower) {
    let mut entries = Vec::new();
    let files = rotated_files(path);
    for file in &files[..files.len() - 1] {
        let Ok(handle) = File::open(file) else {
            continue;
        };
        for line in BufReader::new(handle).split(b'\n').map_while(|l| l.ok()) {
            entries.extend(decode(&line).filter(|e| options.wants(e)));
        }
    }
    let mut follower = Follower::from_start(path);
    entries.extend(follower.poll().into_iter().filter(|e| options.wants(e)));
    if let Some(tail) = options.tail {
        let skip = entries.len().saturating_sub(tail);
        entries.drain(..skip);
    }
    (entries, follower)
}

/// Follows the live log file from a position, across rotations.
pub struct Follower {
    path: PathBuf,
    file: Option<(File, u64)>,
    offset: u64,
    pending: Vec<u8>,
}

impl Follower {
    /// Starts at the beginning of the current log file.
    pub fn from_start(path: &Path) -> Follower {
        Follower {
            path: path.to_path_buf(),
            file: None,
            offset: 0,
            pending: Vec::new(),
        }
    }

    /// Starts at the current end of the log (new output only), as attach does.
    pub fn at_end(path: &Path) -> Follower {
        let mut follower = Follower {
            path: path.to_path_buf(),
            file: None,
            offset: 0,
            pending: Vec::new(),
        };
        if let Ok(file) = File::open(path) {
            if let Ok(meta) = file.metadata() {
                follower.offset = meta.len();
                follower.file = Some((file, meta.ino()));
            }
        }
        follower
    }

    /// Reads whatever complete lines were appended since the last call. When the shim rotated
    /// the file, the rest of the old file is read first, then the new file from its start.
    pub fn poll(&mut self) -> Vec<LogEntry> {
        let mut out = Vec::new();
        loop {
            if self.file.is_none() {
                match File::open(&self.path).and_then(|f| f.metadata().map(|m| (f, m.ino()))) {
                    Ok(opened) => {
                        self.file = Some(opened);
                        self.offset = 0;
                    }
                    Err(_) => return out,
                }
            }
            let Some((file, inode)) = self.file.as_mut() else {
                return out;
            };
            if file.seek(SeekFrom::Start(self.offset)).is_ok() {
                let mut chunk = Vec::new();
                if let Ok(read) = file.read_to_end(&mut chunk) {
                    self.offset += read as u64;
                    self.pending.extend_from_slice(&chunk);
                }
            }
            while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                out.extend(decode(&line[..line.len() - 1]));
            }
            let rotated = std::fs::metadata(&self.path)
                .map(|m| m.ino() != *inode)
                .unwrap_or(false);
            if !rotated {
                return out;
            }
            // The old file is complete; continue with the new one.
            self.file = None;
            self.pending.clear();
        }
    }
}

/// How often a follower looks for new lines while the container runs. The final drain after
/// the container exits happens at once, so short-lived containers never wait for this.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(20);

/// Streams new entries into `tx` until the exit counter in `exits` moves past `exits_seen`,
/// then drains what is left and returns. Stops early when the receiver is dropped.
pub async fn follow(
    mut follower: Follower,
    options: LogOptions,
    mut exits: watch::Receiver<u64>,
    exits_seen: u64,
    tx: mpsc::Sender<LogEntry>,
) {
    loop {
        let exited = *exits.borrow_and_update() > exits_seen;
        for entry in follower.poll() {
            if options.wants(&entry) && tx.send(entry).await.is_err() {
                return;
            }
        }
        if exited {
            return;
        }
        tokio::select! {
            _ = exits.changed() => {}
            _ = tokio::time::sleep(FOLLOW_INTERVAL) => {}
            _ = tx.closed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn line(stream: &str, text: &str, secs: i64) -> String {
        let time = DateTime::from_timestamp(1_700_000_000 + secs, 0)
            .unwrap()
            .to_rfc3339();
        format!(
            "{}\n",
            serde_json::json!({"log": text, "stream": stream, "time": time})
        )
    }

    #[test]
    fn reads_filters_and_tails_across_rotated_files() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("c-json.log");
        std::fs::write(
            format!("{}.1", log.display()),
            line("stdout", "one\n", 0) + &line("stderr", "two\n", 1),
        )
        .unwrap();
        std::fs::write(
            &log,
            line("stdout", "three\n", 2) + &line("stdout", "four\n", 3),
        )
        .unwrap();
        let all = LogOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let texts: Vec<_> = read_history(&log, &all)
            .0
            .into_iter()
            .map(|e| String::from_utf8(e.line).unwrap())
            .collect();
        assert_eq!(texts, ["one\n", "two\n", "three\n", "four\n"]);
        let stdout_tail = LogOptions {
            stdout: true,
            tail: Some(2),
            ..Default::default()
        };
        assert_eq!(read_history(&log, &stdout_tail).0.len(), 2);
        let since = LogOptions {
            stdout: true,
            stderr: true,
            since: DateTime::from_timestamp(1_700_000_002, 0),
            ..Default::default()
        };
        assert_eq!(read_history(&log, &since).0.len(), 2);
    }

    #[test]
    fn follower_sees_appends_and_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("c-json.log");
        std::fs::write(&log, line("stdout", "old\n", 0)).unwrap();
        let mut follower = Follower::at_end(&log);
        assert!(follower.poll().is_empty());
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(line("stdout", "new\n", 1).as_bytes()).unwrap();
        f.write_all(b"{\"log\":\"par").unwrap();
        assert_eq!(follower.poll().len(), 1);
        f.write_all(b"tial\",\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:00Z\"}\n")
            .unwrap();
        std::fs::rename(&log, format!("{}.1", log.display())).unwrap();
        std::fs::write(&log, line("stderr", "rotated\n", 2)).unwrap();
        let got = follower.poll();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].line, b"rotated\n");
    }
}
