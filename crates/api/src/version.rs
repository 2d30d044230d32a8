//! API version negotiation, as dockerd does it.
//!
//! A request path may start with `/vMAJOR.MINOR`; unversioned paths use [`CURRENT`]. Versions
//! outside [`MINIMUM`]..=[`CURRENT`] are rejected with Docker's messages.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// The newest Engine API version berthd speaks.
pub const CURRENT: ApiVersion = ApiVersion {
    major: 1,
    minor: 50,
};
/// The oldest Engine API version berthd accepts.
pub const MINIMUM: ApiVersion = ApiVersion {
    major: 1,
    minor: 24,
};

/// An Engine API version such as `1.41`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApiVersion {
    pub major: u32,
    pub minor: u32,
}

impl Ord for ApiVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor).cmp(&(other.major, other.minor))
    }
}

impl PartialOrd for ApiVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for ApiVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (major, minor) = s
            .split_once('.')
            .ok_or_else(|| format!("invalid API version {s:?}"))?;
        let parse = |p: &str| {
            p.parse::<u32>()
                .map_err(|_| format!("invalid API version {s:?}"))
        };
        Ok(ApiVersion {
            major: parse(major)?,
            minor: parse(minor)?,
        })
    }
}

/// Splits a request path into its API version and the unversioned rest.
///
/// `/v1.41/containers/json` gives `(Some(1.41), "/containers/json")`; `/containers/json` gives
/// `(None, "/containers/json")`. A `/v…` prefix that is not a version is left in the path.
pub fn split_path(path: &str) -> (Option<ApiVersion>, &str) {
    let Some(rest) = path.strip_prefix("/v") else {
        return (None, path);
    };
    let end = rest.find('/').unwrap_or(rest.len());
    match rest[..end].parse::<ApiVersion>() {
        Ok(version) => (Some(version), &rest[end..]),
        Err(_) => (None, path),
    }
}

/// Checks a requested version against what berthd supports; the error is Docker's message.
pub fn check(version: ApiVersion) -> Result<(), String> {
    if version > CURRENT {
        Err(format!(
            "client version {version} is too new. Maximum supported API version is {CURRENT}"
        ))
    } else if version < MINIMUM {
        Err(format!(
            "client version {version} is too old. Minimum supported API version is {MINIMUM}, please upgrade your client to a newer version"
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_versioned_and_plain_paths() {
        assert_eq!(
            split_path("/v1.41/containers/json"),
            (
                Some(ApiVersion {
                    major: 1,
                    minor: 41
                }),
                "/containers/json"
            )
        );
        assert_eq!(split_path("/containers/json"), (None, "/containers/json"));
        assert_eq!(split_path("/v1.50"), (Some(CURRENT), ""));
        assert_eq!(split_path("/volumes"), (None, "/volumes"));
    }

    #[test]
    fn rejects_versions_out_of_range() {
        assert!(check("1.99".parse().unwrap())
            .unwrap_err()
            .contains("too new"));
        assert!(check("1.12".parse().unwrap())
            .unwrap_err()
            .contains("too old"));
        assert!(check("1.41".parse().unwrap()).is_ok());
    }
}
