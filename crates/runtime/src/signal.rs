//! Signal names and numbers as the CLIs accept them (`TERM`, `SIGTERM`, `15`).

use nix::sys::signal::Signal;

use crate::{Error, Result};

/// Parses `KILL`, `SIGKILL`, `sigkill` or `9`.
pub fn parse(s: &str) -> Result<Signal> {
    let bad = || Error::InvalidArgument(format!("invalid signal {s:?}"));
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("TERM").ok(), Some(Signal::SIGTERM));
        assert_eq!(parse("sigkill").ok(), Some(Signal::SIGKILL));
        assert_eq!(parse("9").ok(), Some(Signal::SIGKILL));
        assert!(parse("NOPE").is_err());
        assert!(parse("999").is_err());
    }
}
