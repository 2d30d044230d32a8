//! Docker's image reference grammar (distribution/reference), checked by hand.
//!
//! Why not `oci_spec::distribution::Reference::try_from`: it compiles a Unicode-aware regex
//! into a process-wide static on first use, which costs berthd about 4 MB of resident memory
//! for its whole life (a third of its idle budget). The grammar is small; we check it here and
//! build the same `Reference` through oci-spec's constructors, with the same normalization
//! (`busybox` -> `docker.io/library/busybox:latest`).
//!
//! ```text
//! reference   := name [ ":" tag ] [ "@" digest ]
//! name        := [ domain "/" ] path-component { "/" path-component }
//! domain      := domain-component { "." domain-component } [ ":" port ]
//! domain-component := [A-Za-z0-9] | [A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]
//! path-component   := [a-z0-9]+ { separator [a-z0-9]+ }    separator := "." | "_" | "__" | "-"+
//! tag         := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
//! digest      := algorithm ":" hex{32,}
//! ```

use oci_spec::distribution::Reference;

const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_LEGACY: &str = "index.docker.io";
const NAME_MAX: usize = 255;

/// Parses and normalizes a reference; the error says what is wrong with it.
pub fn parse(input: &str) -> Result<Reference, String> {
    if input.is_empty() {
        return Err("repository name must have at least one component".into());
    }
    let (rest, digest) = match input.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (input, None),
    };
    let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(colon) => (
            &rest[..last_slash + colon],
            Some(&rest[last_slash + colon + 1..]),
        ),
        None => (rest, None),
    };
    check_name(name)?;
    if let Some(tag) = tag {
        check_tag(tag)?;
    }
    if let Some(digest) = digest {
        check_digest(digest)?;
    }
    let (registry, repository) = split_domain(name);
    if repository.len() > NAME_MAX {
        return Err(format!(
            "repository name must not be more than {NAME_MAX} characters"
        ));
    }
    Ok(match (tag, digest) {
        (Some(tag), Some(digest)) => {
            Reference::with_tag_and_digest(registry, repository, tag.to_owned(), digest.to_owned())
        }
        (None, Some(digest)) => Reference::with_digest(registry, repository, digest.to_owned()),
        (Some(tag), None) => Reference::with_tag(registry, repository, tag.to_owned()),
        (None, None) => Reference::with_tag(registry, repository, "latest".to_owned()),
    })
}

fn check_name(name: &str) -> Result<(), String> {
    let components: Vec<&str> = name.split('/').collect();
    let (first, path) = match components.as_slice() {
        [only] => (None, std::slice::from_ref(only)),
        [first, rest @ ..] => (Some(*first), rest),
        [] => return Err("invalid reference format".into()),
    };
    if let Some(first) = first {
        if !is_domain(first) && !is_path_component(first) {
            return Err(component_error(first));
        }
    }
    for component in path {
        if !is_path_component(component) {
            return Err(component_error(component));
        }
    }
    Ok(())
}

fn component_error(component: &str) -> String {
    if component.is_empty() {
        "invalid reference format: empty name component".into()
    } else if is_path_component(&component.to_ascii_lowercase()) {
        "invalid reference format: repository name must be lowercase".into()
    } else {
        format!("invalid reference format: invalid name component {component:?}")
    }
}

fn is_domain(text: &str) -> bool {
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (text, None),
    };
    let host_ok = !host.is_empty()
        && host.split('.').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !c.starts_with('-')
                && !c.ends_with('-')
        });
    host_ok && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or any number of `-`.
fn is_path_component(text: &str) -> bool {
    let bytes = text.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &text[start..i];
        let valid = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !valid {
            return false;
        }
    }
    true
}

fn check_tag(tag: &str) -> Result<(), String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let valid = !tag.is_empty()
        && tag.len() <= 128
        && word(tag.as_bytes()[0])
        && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(format!("invalid reference format: invalid tag {tag:?}"))
    }
}

fn check_digest(digest: &str) -> Result<(), String> {
    let (algorithm, hex) = digest
        .split_once(':')
        .ok_or_else(|| "invalid checksum digest format".to_owned())?;
    let expected = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(format!("unsupported digest algorithm {algorithm:?}")),
    };
    if hex.len() != expected || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("invalid checksum digest length".into());
    }
    Ok(())
}

/// Docker's normalization: a first component is a registry only when it looks like a host
/// (has `.` or `:`, or is `localhost`); official images get `library/`.
fn split_domain(name: &str) -> (String, String) {
    let (mut domain, mut remainder) = match name.split_once('/') {
        Some((left, right)) if left.contains('.') || left.contains(':') || left == "localhost" => {
            (left.to_owned(), right.to_owned())
        }
        _ => (DOCKER_HUB.to_owned(), name.to_owned()),
    };
    if domain == DOCKER_HUB_LEGACY {
        domain = DOCKER_HUB.to_owned();
    }
    if domain == DOCKER_HUB && !remainder.contains('/') {
        remainder = format!("library/{remainder}");
    }
    (domain, remainder)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every case gives the same answer as oci-spec's regex-based parser.
    #[test]
    fn agrees_with_oci_spec() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let cases = [
            "busybox".to_owned(),
            "busybox:1.36".into(),
            "library/busybox".into(),
            "user/app:v1.2-rc_3".into(),
            "localhost/app".into(),
            "localhost:5000/app".into(),
            "localhost:5000/team/app:1".into(),
            "registry.example.com/a/b/c:latest".into(),
            "index.docker.io/busybox".into(),
            "docker.io/user/app".into(),
            "my-registry.io:443/x__y/z.w--v:tag".into(),
            format!("busybox@{digest}"),
            format!("busybox:1@{digest}"),
            format!("localhost:5000/app@{digest}"),
        ];
        for case in &cases {
            let ours = parse(case).unwrap_or_else(|e| panic!("{case}: {e}"));
            let theirs = Reference::try_from(case.as_str()).unwrap();
            assert_eq!(ours.whole(), theirs.whole(), "{case}");
            assert_eq!(ours.registry(), theirs.registry(), "{case}");
            assert_eq!(ours.repository(), theirs.repository(), "{case}");
            assert_eq!(ours.tag(), theirs.tag(), "{case}");
            assert_eq!(ours.digest(), theirs.digest(), "{case}");
        }
    }

    #[test]
    fn rejects_what_docker_rejects() {
        for bad in [
            "",
            "BusyBox",
            "-app",
            "app-",
            "a//b",
            "a/",
            "/a",
            "app:",
            "app:-x",
            "app:tag!",
            "a..b",
            "app@sha256:abc",
            "app@md5:0123456789abcdef0123456789abcdef",
            "app@@x",
            "has space",
            "ünïcode",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
            assert!(
                Reference::try_from(bad).is_err(),
                "oci-spec accepts {bad:?}"
            );
        }
        assert!(parse("BusyBox").unwrap_err().contains("lowercase"));
        assert!(parse(&"a".repeat(300)).is_err());
    }
}
