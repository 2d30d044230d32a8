//! `berth save` / `berth load`: a genuine `docker save` archive loads with Docker's image id,
//! save -> load round trips, and malicious or broken archives are refused with a clear error,
//! write nothing outside the store, register nothing, and leave the daemon running.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use berth_tests::{require, stderr, stdout, Daemon};
use sha2::{Digest, Sha256};

/// Docker 20.10's `docker save` of `berth-fixture:tiny` (see tests/fixtures/README.md).
const FIXTURE_ID: &str = "sha256:5cf308f30ec86da4de386fca3d5298258c7db11686b4a1990856f9746a0445c8";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/docker-save-tiny.tar")
}

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A tar entry written with raw header bytes, so names the tar crate refuses (`..`, absolute)
/// can be produced.
struct Raw<'a> {
    name: &'a str,
    kind: tar::EntryType,
    data: &'a [u8],
    link: Option<&'a str>,
}

fn raw(name: &str, data: &[u8]) -> Raw<'static> {
    Raw {
        name: Box::leak(name.to_owned().into_boxed_str()),
        kind: tar::EntryType::Regular,
        data: Box::leak(data.to_vec().into_boxed_slice()),
        link: None,
    }
}

fn tar_of(entries: &[Raw<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_old();
        let name = e.name.as_bytes();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        if let Some(l) = e.link {
            h.as_old_mut().linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
        h.set_entry_type(e.kind);
        h.set_mode(if e.kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_size(e.data.len() as u64);
        h.set_cksum();
        b.append(&h, e.data).expect("append");
    }
    b.into_inner().expect("tar")
}

/// A docker-archive with one image whose single layer is `layer`.
fn archive_with_layer(layer: &[u8], tag: &str) -> Vec<u8> {
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        sha(layer)
    );
    let cfg_name = format!("{}.json", &sha(config.as_bytes())[7..]);
    let manifest =
        format!(r#"[{{"Config":"{cfg_name}","RepoTags":["{tag}"],"Layers":["l/layer.tar"]}}]"#);
    tar_of(&[
        raw(&cfg_name, config.as_bytes()),
        raw("l/layer.tar", layer),
        raw("manifest.json", manifest.as_bytes()),
    ])
}

fn load_bytes(d: &Daemon, bytes: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = d
        .berth_cmd(&["load"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("berth load");
    let mut stdin = child.stdin.take().expect("stdin");
    let _ = stdin.write_all(bytes);
    drop(stdin);
    child.wait_with_output().expect("wait")
}

fn layer_dirs(d: &Daemon) -> usize {
    std::fs::read_dir(d.root.path().join("data/image/layers"))
        .map(|r| r.count())
        .unwrap_or(0)
}

#[test]
fn genuine_docker_archive_loads_with_dockers_id() {
    let d = Daemon::start();
    let out = d.ok(&["load", "-i", fixture().to_str().expect("path")]);
    assert_eq!(out, "Loaded image: berth-fixture:tiny");
    assert_eq!(
        d.ok(&["inspect", "--format", "{{.Id}}", "berth-fixture:tiny"]),
        FIXTURE_ID
    );
    assert_eq!(
        d.ok(&[
            "inspect",
            "--format",
            "{{.Comment}} {{.Config.Env}} {{len .RootFS.Layers}}",
            "berth-fixture:tiny"
        ]),
        "berth test fixture [FIXTURE=1] 1"
    );
    // loading again is idempotent; saving and loading the result gives the same id again
    assert_eq!(
        d.ok(&["load", "-q", "-i", fixture().to_str().expect("path")]),
        "Loaded image: berth-fixture:tiny"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let saved = dir.path().join("saved.tar");
    d.ok(&[
        "save",
        "-o",
        saved.to_str().expect("path"),
        "berth-fixture:tiny",
    ]);
    d.ok(&["rmi", "berth-fixture:tiny"]);
    assert!(!d.berth(&["inspect", FIXTURE_ID]).status.success());
    assert_eq!(
        d.ok(&["load", "-i", saved.to_str().expect("path")]),
        "Loaded image: berth-fixture:tiny"
    );
    assert_eq!(
        d.ok(&["inspect", "--format", "{{.Id}}", "berth-fixture:tiny"]),
        FIXTURE_ID
    );
}

#[test]
fn save_load_round_trip_runs_and_accepts_gzip() {
    let d = Daemon::start();
    let id = d.ok(&["inspect", "--format", "{{.Id}}", "busybox"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let tar = dir.path().join("bb.tar");
    d.ok(&["save", "-o", tar.to_str().expect("path"), "busybox"]);
    d.ok(&["rmi", "busybox"]);
    let gz = dir.path().join("bb.tar.gz");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -c {} > {}", tar.display(), gz.display()))
        .status()
        .expect("gzip");
    assert!(status.success());
    assert_eq!(
        d.ok(&["load", "-i", gz.to_str().expect("path")]),
        "Loaded image: busybox:latest"
    );
    assert_eq!(d.ok(&["inspect", "--format", "{{.Id}}", "busybox"]), id);
    assert_eq!(
        d.ok(&["run", "--rm", "busybox", "echo", "loaded"]),
        "loaded"
    );
    // an image saved by id is loaded untagged
    d.ok(&["save", "-o", tar.to_str().expect("path"), &id[7..19]]);
    d.ok(&["rmi", "busybox"]);
    assert_eq!(
        d.ok(&["load", "-i", tar.to_str().expect("path")]),
        format!("Loaded image ID: {id}")
    );
    // unknown names fail before anything is written
    let out = d.berth(&[
        "save",
        "-o",
        dir.path().join("x.tar").to_str().expect("path"),
        "nope:1",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("No such image: nope:1"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("x.tar").exists());
}

#[test]
fn malicious_and_broken_archives_are_refused() {
    let d = Daemon::start();
    let outside = tempfile::tempdir().expect("tempdir");
    let target = outside.path().to_str().expect("path").to_owned();
    let layers_before = layer_dirs(&d);

    let symlink_escape = tar_of(&[
        Raw {
            name: "escape",
            kind: tar::EntryType::Symlink,
            data: b"",
            link: Some(Box::leak(target.clone().into_boxed_str())),
        },
        raw("escape/pwned", b"x"),
    ]);
    let dotdot_layer = tar_of(&[raw(
        "../../../../../../../../../../tmp/berth-pwned-dotdot",
        b"x",
    )]);
    let absolute_layer = tar_of(&[raw(
        Box::leak(format!("{target}/abs").into_boxed_str()),
        b"x",
    )]);
    let good_layer = tar_of(&[raw("ok.txt", b"fine")]);
    let mut mismatched = archive_with_layer(&good_layer, "evil:mismatch");
    // corrupt the layer's content after the config recorded its digest
    let pos = mismatched
        .windows(4)
        .position(|w| w == b"fine")
        .expect("layer bytes");
    mismatched[pos] = b'F';
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("outer ../ entry", tar_of(&[raw("../../../../../../../../tmp/berth-pwned-outer", b"x")]), "'..'"),
        ("layer symlink escape", archive_with_layer(&symlink_escape, "evil:symlink"), "symbolic link"),
        ("layer ../ entry", archive_with_layer(&dotdot_layer, "evil:dotdot"), "'..'"),
        ("layer absolute path", archive_with_layer(&absolute_layer, "evil:abs"), "absolute"),
        (
            "device node in the archive",
            tar_of(&[Raw { name: "dev", kind: tar::EntryType::Char, data: b"", link: None }]),
            "unexpected entry type",
        ),
        (
            "manifest names a missing layer",
            tar_of(&[
                raw("c.json", br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}}"#),
                raw("manifest.json", br#"[{"Config":"c.json","RepoTags":["evil:missing"],"Layers":["nope/layer.tar"]}]"#),
            ]),
            "missing",
        ),
        ("bad manifest JSON", tar_of(&[raw("manifest.json", b"[{not json")]), "invalid JSON"),
        ("layer content does not match", mismatched, "does not match"),
        ("no manifest", tar_of(&[raw("hello.txt", b"hi")]), "not an image archive"),
    ];
    for (what, bytes, expect) in cases {
        let out = load_bytes(&d, &bytes);
        assert!(
            !out.status.success(),
            "{what}: load succeeded: {}",
            stdout(&out)
        );
        assert!(
            stderr(&out).contains(expect),
            "{what}: error {:?} lacks {expect:?}",
            stderr(&out)
        );
    }
    assert!(
        std::fs::read_dir(outside.path())
            .expect("read")
            .next()
            .is_none(),
        "files written outside"
    );
    assert!(
        !Path::new("/tmp/berth-pwned-dotdot").exists()
            && !Path::new("/tmp/berth-pwned-outer").exists()
    );
    assert_eq!(d.ok(&["images", "--format", "{{.Repository}}"]), "busybox");
    assert_eq!(layer_dirs(&d), layers_before, "a layer was left registered");
    let tmp = std::fs::read_dir(d.root.path().join("data/image/tmp"))
        .expect("tmp")
        .count();
    assert_eq!(tmp, 0, "temporary files left in the store");
    assert_eq!(d.ok(&["run", "--rm", "busybox", "echo", "alive"]), "alive");
}

/// `docker save` on a real dockerd -> `berth load`, and `berth save` -> `docker load`, with the
/// same image ids. Needs the docker-anchor daemon.
#[test]
#[ignore = "needs a dockerd: set BERTH_TEST_DOCKER_HOST and pass --ignored"]
fn interop_with_real_docker() {
    let Ok(host) = std::env::var("BERTH_TEST_DOCKER_HOST") else {
        panic!(
            "set BERTH_TEST_DOCKER_HOST to a dockerd socket (e.g. unix:///run/docker-anchor.sock)"
        );
    };
    if !require(
        Path::new("/usr/bin/docker").exists() || Path::new("/usr/local/bin/docker").exists(),
        "a docker CLI",
    ) {
        return;
    }
    let docker = |args: &[&str]| {
        let out = std::process::Command::new("docker")
            .env("DOCKER_HOST", &host)
            .args(args)
            .output()
            .expect("docker");
        assert!(out.status.success(), "docker {args:?}: {}", stderr(&out));
        stdout(&out).trim().to_owned()
    };
    let d = Daemon::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let tag = format!("berth-interop:{}", std::process::id());
    struct Cleanup<'a>(&'a dyn Fn(&[&str]) -> String, String);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                (self.0)(&["rmi", "-f", &self.1])
            }));
        }
    }
    // docker -> berth
    docker(&["tag", "busybox", &tag]);
    let _cleanup = Cleanup(&docker, tag.clone());
    let docker_id = docker(&["inspect", "--format", "{{.Id}}", &tag]);
    let from_docker = dir.path().join("from-docker.tar");
    docker(&["save", "-o", from_docker.to_str().expect("path"), &tag]);
    assert_eq!(
        d.ok(&["load", "-i", from_docker.to_str().expect("path")]),
        format!("Loaded image: {tag}")
    );
    assert_eq!(d.ok(&["inspect", "--format", "{{.Id}}", &tag]), docker_id);
    assert_eq!(d.ok(&["run", "--rm", &tag, "echo", "ran"]), "ran");
    // berth -> docker (an image only berth has)
    let imported = d.ok(&[
        "import",
        "-c",
        "CMD [\"/bin/echo\",\"from-berth\"]",
        berth_tests::busybox_tar().to_str().expect("path"),
        &tag,
    ]);
    docker(&["rmi", &tag]);
    let from_berth = dir.path().join("from-berth.tar");
    d.ok(&["save", "-o", from_berth.to_str().expect("path"), &tag]);
    assert!(docker(&["load", "-i", from_berth.to_str().expect("path")]).contains(&tag));
    assert_eq!(docker(&["inspect", "--format", "{{.Id}}", &tag]), imported);
    assert_eq!(docker(&["run", "--rm", &tag]), "from-berth");
}
