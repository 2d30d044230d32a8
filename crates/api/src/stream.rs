//! Docker's multiplexed stream framing (`application/vnd.docker.multiplexed-stream`).
//!
//! When a container has no TTY, attach, logs and exec interleave stdout and stderr on one byte
//! stream: each frame is an 8-byte header `[stream, 0, 0, 0, len_be32]` followed by `len` bytes.
//! With a TTY the stream is raw and unframed.

/// Which stream a frame belongs to (the header's first byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
}

impl StreamKind {
    /// The json-file log's `stream` field value.
    pub fn from_log_name(name: &str) -> Option<StreamKind> {
        match name {
            "stdout" => Some(StreamKind::Stdout),
            "stderr" => Some(StreamKind::Stderr),
            _ => None,
        }
    }
}

/// Appends one frame to `out`. Payloads over 4 GiB are split into several frames.
pub fn encode_frame(kind: StreamKind, payload: &[u8], out: &mut Vec<u8>) {
    for chunk in payload.chunks(u32::MAX as usize) {
        out.push(kind as u8);
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
        out.extend_from_slice(chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_docker_header() {
        let mut out = Vec::new();
        encode_frame(StreamKind::Stderr, b"hi\n", &mut out);
        assert_eq!(out, [2, 0, 0, 0, 0, 0, 0, 3, b'h', b'i', b'\n']);
    }
}
