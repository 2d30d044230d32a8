//! Image references: parsing, normalization (`busybox` -> `docker.io/library/busybox:latest`)
//! and Docker's familiar display form (`busybox:latest`).

use oci_spec::distribution::Reference;

use crate::error::{Error, Result};

/// Parse and normalize a reference the way Docker does (default registry `docker.io`,
/// `library/` for official images, default tag `latest`).
///
/// Errors with [`Error::InvalidReference`] and a reason a user can act on.
pub fn parse(input: &str) -> Result<Reference> {
    let invalid = |reason: &str| Error::InvalidReference {
        reference: input.to_string(),
        reason: reason.to_string(),
    };
    if is_full_hex_id(input) {
        return Err(invalid(
            "invalid repository name (64-byte hexadecimal string), cannot use it as a repository name",
        ));
    }
    crate::reference_grammar::parse(input).map_err(|reason| invalid(&reason))
}

/// Parse a reference that will become a tag: like [`parse`], but refuses digests.
pub fn parse_tag(input: &str) -> Result<Reference> {
    let r = parse(input)?;
    if r.digest().is_some() {
        return Err(Error::InvalidReference {
            reference: input.to_string(),
            reason: "refusing to create a tag with a digest reference".to_string(),
        });
    }
    Ok(r)
}

/// The canonical string stored in the database: `docker.io/library/busybox:latest`.
pub fn canonical(r: &Reference) -> String {
    r.whole()
}

/// Docker's familiar form: `busybox:latest`, `user/app:1`, `localhost:5000/app:1`.
pub fn familiar(r: &Reference) -> String {
    let mut s = familiar_name(r);
    if let Some(t) = r.tag() {
        s.push(':');
        s.push_str(t);
    }
    if let Some(d) = r.digest() {
        s.push('@');
        s.push_str(d);
    }
    s
}

/// Familiar repository name without tag or digest: `busybox`, `user/app`, `quay.io/x/y`.
pub fn familiar_name(r: &Reference) -> String {
    if r.registry() == "docker.io" {
        match r.repository().strip_prefix("library/") {
            Some(rest) if !rest.contains('/') => rest.to_string(),
            _ => r.repository().to_string(),
        }
    } else {
        format!("{}/{}", r.registry(), r.repository())
    }
}

/// Familiar form of a canonical string read back from the database.
pub(crate) fn familiar_str(canonical: &str) -> String {
    match crate::reference_grammar::parse(canonical) {
        Ok(r) => familiar(&r),
        Err(_) => canonical.to_string(),
    }
}

pub(crate) fn is_full_hex_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_and_familiarizes() -> Result<()> {
        let r = parse("busybox")?;
        assert_eq!(canonical(&r), "docker.io/library/busybox:latest");
        assert_eq!(familiar(&r), "busybox:latest");
        assert_eq!(familiar(&parse("user/app:1")?), "user/app:1");
        assert_eq!(
            familiar(&parse("localhost:5000/app")?),
            "localhost:5000/app:latest"
        );
        assert_eq!(
            familiar_str("docker.io/library/busybox:1.36"),
            "busybox:1.36"
        );
        Ok(())
    }

    #[test]
    fn rejects_bad_references_with_reasons() {
        let e = parse("BusyBox").map(|_| ()).err();
        assert!(
            matches!(&e, Some(Error::InvalidReference { reason, .. }) if reason.contains("lowercase")),
            "{e:?}"
        );
        for bad in ["", "a b", "foo:bar:baz", "-x", "foo/../bar", "a!"] {
            assert!(parse(bad).is_err(), "{bad} accepted");
        }
        let hex = "a".repeat(64);
        assert!(parse(&hex).is_err());
        let d = format!("busybox@sha256:{}", "f".repeat(64));
        assert!(parse(&d).is_ok());
        assert!(parse_tag(&d).is_err());
    }
}
