//! How a command ends: an error whose message still needs printing exits 1, an [`Exit`] carries
//! a status whose message (if any) was already printed.

use std::fmt;

/// Ends the process with `code`; the command printed whatever it had to say.
#[derive(Debug)]
pub struct Exit(pub i32);

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for Exit {}

/// Shorthand for returning an exit status from a command.
pub fn exit(code: i32) -> anyhow::Error {
    anyhow::Error::new(Exit(code))
}

/// The status docker's `run`/`start` give a failed container start (`runStartContainerErr`):
/// 127 when the command does not exist, 126 when it cannot be executed, 125 otherwise.
pub fn start_error_code(message: &str) -> i32 {
    let m = message.to_ascii_lowercase();
    if m.contains("executable file not found")
        || m.contains("no such file or directory")
        || m.contains("system cannot find the file specified")
    {
        127
    } else if m.contains("permission denied") || m.contains("exec format error") {
        126
    } else {
        125
    }
}

/// docker's `reportError` (CLI 28 wording): `berth: MESSAGE` followed by a usage hint.
pub fn report_error(cmd: &str, message: &str, with_help: bool) {
    let mut s = message.trim_end().to_string();
    if with_help {
        s.push_str(&format!(
            "\n\nRun 'berth {cmd} --help' for more information"
        ));
    }
    eprintln!("berth: {s}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_codes() {
        assert_eq!(
            start_error_code("Error response from daemon: OCI runtime create failed: container_linux.go:380: starting container process caused: exec: \"nope\": executable file not found in $PATH: unknown"),
            127
        );
        assert_eq!(
            start_error_code("exec: \"/etc/passwd\": permission denied"),
            126
        );
        assert_eq!(start_error_code("stat /x: no such file or directory"), 127);
        assert_eq!(start_error_code("cgroup error"), 125);
    }
}
