//! Registry end-to-end tests: a real `docker-registry` (distribution 2.8) on 127.0.0.1, a real
//! berthd, the berth CLI (and the docker CLI when present). Images are pushed by berth, or
//! assembled here (blobs and manifests PUT over HTTP) for multi-layer, zstd, index and
//! malicious cases.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use berth_tests::{busybox_tar, eventually, require, stderr, stdout, Daemon};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// How a test registry wants clients to authenticate.
enum RegistryAuth<'a> {
    /// HTTP basic auth against an htpasswd file with this one user
    Htpasswd((&'a str, &'a str)),
    /// bearer tokens from this token server
    Token(&'a TokenServer),
}

/// tests/support/token_server.py on a free port: issues RS256 tokens the registry trusts
/// and logs every token request; killed on drop.
struct TokenServer {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

impl TokenServer {
    const SERVICE: &'static str = "berth-test-registry";
    const ISSUER: &'static str = "berth-test-token-issuer";

    fn start(users: &[(&str, &str)]) -> Option<TokenServer> {
        let crypto = Command::new("/usr/bin/python3")
            .args(["-c", "import cryptography"])
            .status()
            .is_ok_and(|s| s.success());
        if !require(
            crypto,
            "python3-cryptography (apt-get install python3-cryptography)",
        ) {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("berth-tokens-")
            .tempdir()
            .expect("tempdir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("support/token_server.py");
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.arg(script)
            .arg("--cert")
            .arg(dir.path().join("cert.pem"))
            .arg("--log")
            .arg(dir.path().join("requests.jsonl"))
            .args(["--issuer", Self::ISSUER, "--service", Self::SERVICE]);
        for (user, pass) in users {
            cmd.arg("--user").arg(format!("{user}:{pass}"));
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("server.log")).expect("log"))
            .spawn()
            .expect("start the token server");
        let mut line = String::new();
        let read = std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
            &mut line,
        );
        let Ok(port) = line.trim().parse() else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "token server did not start ({read:?}): {}",
                std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default()
            );
        };
        Some(TokenServer { dir, port, child })
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// Every token request so far: {"account", "scopes", "granted", "status", "service"}.
    fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("requests.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("token log line"))
            .collect()
    }

    /// Whether some request by `account` asked for exactly `scopes` and got them all.
    fn granted(&self, account: &str, scopes: &[&str]) -> bool {
        self.requests().iter().any(|r| {
            r["account"] == account
                && r["status"] == 200
                && r["scopes"].as_array().is_some_and(|s| {
                    s.len() == scopes.len() && scopes.iter().all(|x| s.contains(&json!(x)))
                })
                && r["granted"]
                    .as_array()
                    .is_some_and(|g| g.len() == scopes.len())
        })
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `docker-registry serve` on a free port with a temporary storage root; killed on drop.
struct Registry {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
    auth: Option<(String, String)>,
}

impl Registry {
    fn start(auth: Option<(&str, &str)>) -> Option<Registry> {
        Registry::start_with(auth.map(RegistryAuth::Htpasswd))
    }

    /// A registry that sends clients to `tokens` for bearer tokens (`auth: token`).
    fn start_with_tokens(tokens: &TokenServer) -> Option<Registry> {
        Registry::start_with(Some(RegistryAuth::Token(tokens)))
    }

    fn start_with(auth: Option<RegistryAuth>) -> Option<Registry> {
        if !require(
            Path::new("/usr/bin/docker-registry").exists(),
            "docker-registry (apt-get install docker-registry)",
        ) {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("berth-registry-")
            .tempdir()
            .expect("tempdir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        let mut basic = None;
        match auth {
            Some(RegistryAuth::Htpasswd((user, pass))) => {
                let out = Command::new("htpasswd")
                    .args(["-Bbn", user, pass])
                    .output()
                    .expect("htpasswd (apt-get install apache2-utils)");
                assert!(out.status.success());
                std::fs::write(dir.path().join("htpasswd"), &out.stdout).expect("write htpasswd");
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                    dir.path().join("htpasswd").display()
                ));
                basic = Some((user.to_string(), pass.to_string()));
            }
            Some(RegistryAuth::Token(tokens)) => config.push_str(&format!(
                "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                tokens.port,
                TokenServer::SERVICE,
                TokenServer::ISSUER,
                tokens.cert().display()
            )),
            None => {}
        }
        std::fs::write(dir.path().join("config.yml"), config).expect("write config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("registry.log")).expect("log"))
            .spawn()
            .expect("start docker-registry");
        let registry = Registry {
            dir,
            port,
            child,
            auth: basic,
        };
        assert!(
            eventually(Duration::from_secs(10), || TcpStream::connect((
                "127.0.0.1",
                port
            ))
            .is_ok()),
            "registry did not start"
        );
        Some(registry)
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// One HTTP/1.1 request; returns (status, headers, body).
    fn http(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> (u16, String, Vec<u8>) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect registry");
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let auth = match &self.auth {
            Some((u, p)) => format!("Authorization: Basic {}\r\n", b64(&format!("{u}:{p}"))),
            None => String::new(),
        };
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.host(),
            body.len()
        )
        .expect("write");
        s.write_all(body).expect("write body");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).expect("read reply");
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("http reply");
        let head = String::from_utf8_lossy(&raw[..split]).to_string();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("status");
        (status, head, raw[split + 4..].to_vec())
    }

    fn put_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let (status, head, _) = self.http(
            "POST",
            &format!("/v2/{repo}/blobs/uploads/"),
            "application/octet-stream",
            b"",
        );
        assert_eq!(status, 202, "start upload: {head}");
        let location = head
            .lines()
            .find_map(|l| {
                l.strip_prefix("Location: ")
                    .or_else(|| l.strip_prefix("location: "))
            })
            .expect("upload location")
            .trim()
            .to_string();
        let path = location
            .split_once(&self.host())
            .map(|(_, p)| p.to_string())
            .unwrap_or(location);
        let sep = if path.contains('?') { '&' } else { '?' };
        let (status, head, _) = self.http(
            "PUT",
            &format!("{path}{sep}digest={digest}"),
            "application/octet-stream",
            bytes,
        );
        assert_eq!(status, 201, "upload blob: {head}");
        digest
    }

    fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) -> String {
        let (status, head, body) = self.http(
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            media_type,
            bytes,
        );
        assert_eq!(
            status,
            201,
            "put manifest: {head} {}",
            String::from_utf8_lossy(&body)
        );
        sha256(bytes)
    }

    /// Path of a blob's data file in the registry's storage.
    fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Upload an image of `layers` (blob bytes, media type, diff_id) with a config for `arch`;
    /// returns (manifest bytes, manifest digest). Tagged `tag` unless empty.
    fn put_image(
        &self,
        repo: &str,
        tag: &str,
        arch: &str,
        layers: &[(Vec<u8>, &str, String)],
    ) -> (Vec<u8>, String) {
        let config = json!({
            "architecture": arch, "os": "linux",
            "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.2.clone()).collect::<Vec<_>>()},
            "created": "2026-01-01T00:00:00Z",
        });
        let config = serde_json::to_vec(&config).expect("config");
        let config_digest = self.put_blob(repo, &config);
        let descs: Vec<Value> = layers
            .iter()
            .map(|(bytes, mt, _)| json!({"mediaType": mt, "size": bytes.len(), "digest": self.put_blob(repo, bytes)}))
            .collect();
        let oci = layers.iter().any(|l| l.1.contains("zstd"));
        let (mt, cmt) = if oci {
            (
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.oci.image.config.v1+json",
            )
        } else {
            (
                "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.docker.container.image.v1+json",
            )
        };
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": mt,
            "config": {"mediaType": cmt, "size": config.len(), "digest": config_digest},
            "layers": descs,
        }))
        .expect("manifest");
        let reference = if tag.is_empty() {
            sha256(&manifest)
        } else {
            tag.to_string()
        };
        let digest = self.put_manifest(repo, &reference, mt, &manifest);
        (manifest, digest)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn b64(s: &str) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

/// A tar with regular files `(path, content)`.
fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_path(path).expect("path");
        h.set_cksum();
        b.append(&h, content.as_bytes()).expect("append");
    }
    b.into_inner().expect("tar")
}

/// A tar whose one entry has a raw name (for `../` that tar::Builder refuses to write).
fn tar_raw_name(name: &str, content: &str) -> Vec<u8> {
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, content.as_bytes()).expect("append");
    b.into_inner().expect("tar")
}

fn busybox_layer() -> (Vec<u8>, String) {
    let plain = std::fs::read(busybox_tar()).expect("busybox tar");
    let diff = sha256(&plain);
    (gzip(&plain), diff)
}

const GZ: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

fn images_of(d: &Daemon) -> String {
    d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
}

#[test]
fn push_rmi_pull_run_round_trip() {
    let Some(reg) = Registry::start(None) else {
        return;
    };
    let d = Daemon::start();
    let name = format!("{}/bb:v1", reg.host());
    d.ok(&["tag", "busybox", &name]);
    let out = d.berth(&["push", &name]);
    assert!(out.status.success(), "push: {}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("v1: digest: sha256:"), "{text}");
    // second push: nothing to upload
    let again = d.berth(&["push", &name]);
    assert!(
        stderr(&again).contains("Layer already exists"),
        "{}",
        stderr(&again)
    );

    d.ok(&["rmi", &name]);
    assert!(!images_of(&d).contains("/bb:v1"));
    let pulled = d.berth(&["pull", &name]);
    assert!(pulled.status.success(), "pull: {}", stderr(&pulled));
    assert!(stdout(&pulled).contains(&name), "{}", stdout(&pulled));
    assert!(
        stderr(&pulled).contains("Status: Downloaded newer image")
            || stderr(&pulled).contains("Image is up to date"),
        "{}",
        stderr(&pulled)
    );
    let digest = d.ok(&["inspect", "--format", "{{index .RepoDigests 0}}", &name]);
    assert!(
        digest.starts_with(&format!("{}/bb@sha256:", reg.host())),
        "{digest}"
    );
    assert_eq!(
        d.ok(&["run", "--rm", &name, "echo", "pulled-ok"]),
        "pulled-ok"
    );

    // by digest, and implicitly on run of a missing image
    d.ok(&["rmi", "-f", &name]);
    d.ok(&["pull", &digest]);
    d.ok(&["rmi", "-f", &digest]);
    let run = d.berth(&["run", "--rm", &name, "echo", "auto"]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(
        stderr(&run).contains(&format!("Unable to find image '{name}' locally")),
        "{}",
        stderr(&run)
    );
    assert_eq!(stdout(&run).trim(), "auto");
    let found = d.berth(&["search", &format!("{}/bb", reg.host())]);
    assert!(found.status.success(), "{}", stderr(&found));
    assert!(
        stdout(&found).contains(&format!("{}/bb", reg.host())),
        "{}",
        stdout(&found)
    );
    d.ok(&["tag", "busybox", &format!("{}/other-bb:v1", reg.host())]);
    d.ok(&["push", &format!("{}/other-bb:v1", reg.host())]);
    let limited = d.berth(&["search", "--limit", "1", &format!("{}/bb", reg.host())]);
    assert_eq!(stdout(&limited).lines().count(), 2, "{}", stdout(&limited));
    let hub = d.berth(&["search", "busybox"]);
    assert!(!hub.status.success());
    assert!(
        stderr(&hub).contains("no registry catalog"),
        "{}",
        stderr(&hub)
    );

    d.ok(&["rmi", "-f", &name]);
    let never = d.berth(&["run", "--rm", "--pull", "never", &name, "true"]);
    assert!(!never.status.success());
    assert!(
        stderr(&never).to_lowercase().contains("no such image"),
        "{}",
        stderr(&never)
    );
}

#[test]
fn multi_layer_zstd_index_and_platform() {
    let Some(reg) = Registry::start(None) else {
        return;
    };
    let d = Daemon::start();
    let (base, base_diff) = busybox_layer();
    let top_plain = tar_of(&[("hello.txt", "from the zstd layer\n")]);
    let top_diff = sha256(&top_plain);
    let top = zstd::encode_all(&top_plain[..], 3).expect("zstd");
    let (amd, amd_digest) = reg.put_image(
        "multi",
        "",
        "amd64",
        &[
            (base.clone(), GZ, base_diff.clone()),
            (top, "application/vnd.oci.image.layer.v1.tar+zstd", top_diff),
        ],
    );
    let arm_plain = tar_of(&[("hello.txt", "arm\n")]);
    let arm_diff = sha256(&arm_plain);
    let (arm, arm_digest) = reg.put_image(
        "multi",
        "",
        "arm64",
        &[
            (base, GZ, base_diff),
            (
                arm_plain,
                "application/vnd.oci.image.layer.v1.tar",
                arm_diff,
            ),
        ],
    );
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": amd.len(), "digest": amd_digest,
             "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": arm.len(), "digest": arm_digest,
             "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
        ]}))
    .expect("index");
    let index_digest = reg.put_manifest(
        "multi",
        "latest",
        "application/vnd.oci.image.index.v1+json",
        &index,
    );

    let name = format!("{}/multi:latest", reg.host());
    let out = d.berth(&["pull", "--platform", "linux/amd64", &name]);
    assert!(out.status.success(), "pull: {}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("Digest: {index_digest}")),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        d.ok(&["run", "--rm", &name, "cat", "/hello.txt"]),
        "from the zstd layer"
    );
    let layers = d.ok(&["inspect", "--format", "{{len .RootFS.Layers}}", &name]);
    assert_eq!(layers, "2");

    // the arm64 entry: a different image with the shared base layer reused
    let arm_out = d.berth(&["pull", "--platform", "linux/arm64", &name]);
    assert!(arm_out.status.success(), "{}", stderr(&arm_out));
    assert!(
        stderr(&arm_out).contains("Already exists"),
        "{}",
        stderr(&arm_out)
    );
    let arch = d.ok(&["inspect", "--format", "{{.Architecture}}", &name]);
    assert_eq!(arch, "arm64");

    let none = d.berth(&["pull", "--platform", "linux/s390x", &name]);
    assert!(!none.status.success());
    assert!(
        stderr(&none).contains("no matching manifest for linux/s390x"),
        "{}",
        stderr(&none)
    );
}

#[test]
fn bad_registry_content_is_rejected_without_writes() {
    let Some(reg) = Registry::start(None) else {
        return;
    };
    let d = Daemon::start();
    let image_root = d.root.path().join("data");
    let pull_fails = |name: &str, needle: &str| {
        let out = d.berth(&["pull", name]);
        assert!(!out.status.success(), "pull of {name} succeeded");
        let err = stderr(&out);
        assert!(
            err.to_lowercase().contains(needle),
            "pull {name}: expected {needle:?} in {err}"
        );
        assert!(!images_of(&d).contains(name.split('/').nth(1).unwrap_or(name)));
    };

    // corrupted blob in the registry's storage: digest mismatch, nothing stored
    let corrupt_plain = tar_of(&[("corrupt.txt", &"y".repeat(200_000))]);
    let corrupt = gzip(&corrupt_plain);
    reg.put_image(
        "corrupt",
        "v1",
        "amd64",
        &[(corrupt.clone(), GZ, sha256(&corrupt_plain))],
    );
    let blob = reg.blob_file(&sha256(&corrupt));
    let mut bytes = corrupt.clone();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&blob, &bytes).expect("corrupt");
    pull_fails(&format!("{}/corrupt:v1", reg.host()), "digest");

    // truncated blob: shorter than the manifest says
    let other_plain = tar_of(&[("a.txt", &"x".repeat(100_000))]);
    let other = gzip(&other_plain);
    reg.put_image(
        "truncated",
        "v1",
        "amd64",
        &[(other.clone(), GZ, sha256(&other_plain))],
    );
    let f = reg.blob_file(&sha256(&other));
    std::fs::write(&f, &other[..other.len() / 2]).expect("truncate");
    pull_fails(&format!("{}/truncated:v1", reg.host()), "mismatch");

    // unknown layer media type
    let plain = tar_of(&[("b.txt", "b")]);
    reg.put_image(
        "weird",
        "v1",
        "amd64",
        &[(plain.clone(), "application/x-berth-unknown", sha256(&plain))],
    );
    pull_fails(&format!("{}/weird:v1", reg.host()), "unsupported");

    // malformed manifest: the stored manifest bytes replaced with garbage
    let (_, good_digest) = reg.put_image(
        "malformed",
        "v1",
        "amd64",
        &[(
            plain.clone(),
            "application/vnd.oci.image.layer.v1.tar",
            sha256(&plain),
        )],
    );
    std::fs::write(
        reg.blob_file(&good_digest),
        br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}"#,
    )
    .expect("garble");
    // (oci-client checks the body against the registry's digest header first)
    pull_fails(&format!("{}/malformed:v1", reg.host()), "manifest");

    // a layer with ../ and one writing through a symlink it created
    let escape = tar_raw_name("../../../../../../tmp/berth-escape-dotdot", "pwned");
    reg.put_image(
        "dotdot",
        "v1",
        "amd64",
        &[(
            escape.clone(),
            "application/vnd.oci.image.layer.v1.tar",
            sha256(&escape),
        )],
    );
    pull_fails(&format!("{}/dotdot:v1", reg.host()), "invalid archive");
    assert!(!Path::new("/tmp/berth-escape-dotdot").exists());

    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    b.append_link(&mut h, "link", "/tmp").expect("symlink");
    let mut f = tar::Header::new_gnu();
    f.set_size(5);
    f.set_mode(0o644);
    f.set_path("link/berth-escape-symlink").expect("path");
    f.set_cksum();
    b.append(&f, &b"pwned"[..]).expect("file");
    let sym = b.into_inner().expect("tar");
    reg.put_image(
        "symlink",
        "v1",
        "amd64",
        &[(
            sym.clone(),
            "application/vnd.oci.image.layer.v1.tar",
            sha256(&sym),
        )],
    );
    pull_fails(&format!("{}/symlink:v1", reg.host()), "invalid archive");
    assert!(!Path::new("/tmp/berth-escape-symlink").exists());

    // a failed pull keeps its complete layers (no image) and the next pull reuses them
    let good_plain = tar_of(&[("good.txt", &"g".repeat(150_000))]);
    let good = gzip(&good_plain);
    let bad_plain = tar_of(&[("bad.txt", &"b".repeat(150_000))]);
    let bad = gzip(&bad_plain);
    reg.put_image(
        "partial",
        "v1",
        "amd64",
        &[
            (good.clone(), GZ, sha256(&good_plain)),
            (bad.clone(), GZ, sha256(&bad_plain)),
        ],
    );
    let mut broken = bad.clone();
    let at = broken.len() / 3;
    broken[at] ^= 0x55;
    std::fs::write(reg.blob_file(&sha256(&bad)), &broken).expect("corrupt");
    pull_fails(&format!("{}/partial:v1", reg.host()), "digest");
    std::fs::write(reg.blob_file(&sha256(&bad)), &bad).expect("restore");
    let retry = d.berth(&["pull", &format!("{}/partial:v1", reg.host())]);
    assert!(retry.status.success(), "{}", stderr(&retry));
    let good_id = &sha256(&good)[7..19];
    assert!(
        stderr(&retry).contains(&format!("{good_id}: Already exists")),
        "{}",
        stderr(&retry)
    );

    // nothing half-written was left, and the daemon still serves
    let leftovers: Vec<_> = std::fs::read_dir(image_root.join("image/tmp"))
        .map(|r| r.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "leftovers in tmp: {leftovers:?}");
    assert_eq!(d.ok(&["run", "--rm", "busybox", "echo", "alive"]), "alive");
    // and the same image pulls once the blob is intact again
    std::fs::write(&blob, &corrupt).expect("restore");
    let fixed = d.berth(&["pull", &format!("{}/corrupt:v1", reg.host())]);
    assert!(fixed.status.success(), "{}", stderr(&fixed));
}

/// Run berth with `DOCKER_CONFIG=config_dir` (the client's login store), feeding `stdin`.
fn berth_with_config(
    d: &Daemon,
    config_dir: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    let mut cmd = d.berth_cmd(args);
    cmd.env("DOCKER_CONFIG", config_dir);
    output_with_stdin(cmd, stdin.unwrap_or(""))
}

/// Run `cmd` with `input` on its stdin (then closed); its whole output.
fn output_with_stdin(mut cmd: Command, input: &str) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).expect("stdin");
    drop(stdin);
    child.wait_with_output().expect("wait")
}

#[test]
fn login_push_pull_search_with_htpasswd_auth() {
    let Some(reg) = Registry::start(Some(("berth", "s3cret"))) else {
        return;
    };
    private_registry_round_trip(&reg, None);
}

#[test]
fn login_push_pull_search_with_bearer_tokens_from_a_token_server() {
    let Some(tokens) = TokenServer::start(&[("berth", "s3cret")]) else {
        return;
    };
    let Some(reg) = Registry::start_with_tokens(&tokens) else {
        return;
    };
    private_registry_round_trip(&reg, Some(&tokens));
}

/// What a user of a registry that needs a login (user `berth`, password `s3cret`) sees:
/// push and search refused before login, a wrong password refused, then login, push, a
/// cross-repository mount, rmi, pull, run and search, and after logout refusals again.
/// With `tokens`, the token server's log shows the scopes each step asked for and got.
fn private_registry_round_trip(reg: &Registry, tokens: Option<&TokenServer>) {
    let d = Daemon::start();
    let home = tempfile::tempdir().expect("tempdir");
    let config_dir = home.path().join(".docker");
    let berth =
        |args: &[&str], stdin: Option<&str>| berth_with_config(&d, &config_dir, args, stdin);
    let granted = |scopes: &[&str]| {
        if let Some(tokens) = tokens {
            assert!(
                tokens.granted("berth", scopes),
                "no token for {scopes:?}: {:?}",
                tokens.requests()
            );
        }
    };
    let name = format!("{}/private/bb:v1", reg.host());
    let search_term = format!("{}/bb", reg.host());
    d.ok(&["tag", "busybox", &name]);

    let denied = berth(&["push", &name], None);
    assert!(!denied.status.success(), "anonymous push succeeded");
    assert!(
        stderr(&denied).contains("docker login"),
        "{}",
        stderr(&denied)
    );
    if let Some(tokens) = tokens {
        // anonymous: the token server hands out a token that grants nothing
        assert!(
            tokens.requests().iter().any(|r| r["account"] == ""
                && r["scopes"] == json!(["repository:private/bb:pull,push"])
                && r["granted"] == json!([])),
            "{:?}",
            tokens.requests()
        );
    }
    let unlisted = berth(&["search", &search_term], None);
    assert!(!unlisted.status.success(), "catalog listed without login");
    assert!(
        stderr(&unlisted).contains("docker login"),
        "{}",
        stderr(&unlisted)
    );

    let bad = berth(
        &["login", "-u", "berth", "--password-stdin", &reg.host()],
        Some("wrong\n"),
    );
    assert!(!bad.status.success(), "bad password accepted");
    assert!(
        stderr(&bad).contains("incorrect username or password"),
        "{}",
        stderr(&bad)
    );
    assert!(!config_dir.join("config.json").exists());

    let good = berth(
        &["login", "-u", "berth", "--password-stdin", &reg.host()],
        Some("s3cret\n"),
    );
    assert!(good.status.success(), "{}", stderr(&good));
    assert!(stdout(&good).contains("Login Succeeded"));
    // login asks for no scope: the token server only checks the password
    granted(&[]);
    let config = config_dir.join("config.json");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&config)
        .expect("config.json")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let saved: Value =
        serde_json::from_slice(&std::fs::read(&config).expect("read")).expect("json");
    assert_eq!(saved["auths"][reg.host()]["auth"], b64("berth:s3cret"));

    let pushed = berth(&["push", &name], None);
    assert!(pushed.status.success(), "{}", stderr(&pushed));
    granted(&["repository:private/bb:pull,push"]);
    // a second repository of the same registry gets the layer by a cross-repository mount,
    // which needs pull on the source repository too, asked for in the same token
    let other = format!("{}/other/bb:v1", reg.host());
    d.ok(&["tag", "busybox", &other]);
    let mounted = berth(&["push", &other], None);
    assert!(mounted.status.success(), "{}", stderr(&mounted));
    assert!(
        stderr(&mounted).contains("Mounted from private/bb"),
        "{}",
        stderr(&mounted)
    );
    granted(&[
        "repository:other/bb:pull,push",
        "repository:private/bb:pull",
    ]);

    d.ok(&["rmi", &name, &other]);
    let pulled = berth(&["pull", &name], None);
    assert!(pulled.status.success(), "{}", stderr(&pulled));
    granted(&["repository:private/bb:pull"]);
    let ran = berth(&["run", "--rm", &name, "echo", "pulled after login"], None);
    assert!(ran.status.success(), "{}", stderr(&ran));
    assert_eq!(stdout(&ran).trim(), "pulled after login");

    let found = berth(&["search", &search_term], None);
    assert!(found.status.success(), "{}", stderr(&found));
    for repo in ["private/bb", "other/bb"] {
        assert!(
            stdout(&found).contains(&format!("{}/{repo}", reg.host())),
            "{}",
            stdout(&found)
        );
    }
    granted(&["registry:catalog:*"]);

    let out = berth(&["logout", &reg.host()], None);
    assert!(
        stdout(&out).contains("Removing login credentials"),
        "{}",
        stdout(&out)
    );
    let anonymous = berth(&["pull", &other], None);
    assert!(!anonymous.status.success(), "pull without login succeeded");
    assert!(
        stderr(&anonymous).contains("docker login"),
        "{}",
        stderr(&anonymous)
    );

    // the real docker CLI through berthd: POST /auth, then X-Registry-Auth on pull and search
    let docker = Path::new("/usr/local/bin/docker");
    if !require(docker.exists(), "the docker CLI at /usr/local/bin/docker") {
        return;
    }
    let docker_config = home.path().join("docker-cli");
    let docker_cli = |args: &[&str], stdin: &str| {
        let mut cmd = Command::new(docker);
        cmd.env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", &docker_config)
            .args(args);
        output_with_stdin(cmd, stdin)
    };
    let login = docker_cli(
        &["login", "-u", "berth", "--password-stdin", &reg.host()],
        "s3cret\n",
    );
    assert!(login.status.success(), "docker login: {}", stderr(&login));
    let pulled = docker_cli(&["pull", &other], "");
    assert!(pulled.status.success(), "docker pull: {}", stderr(&pulled));
    let found = docker_cli(&["search", &search_term], "");
    assert!(found.status.success(), "docker search: {}", stderr(&found));
    assert!(
        stdout(&found).contains(&format!("{}/other/bb", reg.host())),
        "{}",
        stdout(&found)
    );
}

#[test]
fn insecure_registry_option_and_the_docker_cli() {
    let Some(reg) = Registry::start(None) else {
        return;
    };
    // the registry as "localhost:PORT" is insecure by rule; also list it explicitly
    let d = Daemon::start_with_config(
        &json!({"insecure-registries": [format!("myreg.test:{}", reg.port)]}),
    );
    let info = d.berth(&["info"]);
    assert!(info.status.success());
    assert!(!d
        .log()
        .contains("\"insecure-registries\" is accepted but not applied"));
    let name = format!("localhost:{}/viacli:v1", reg.port);
    d.ok(&["tag", "busybox", &name]);
    d.ok(&["push", &name]);
    d.ok(&["rmi", &name]);
    let docker = Path::new("/usr/local/bin/docker");
    if !require(docker.exists(), "the docker CLI at /usr/local/bin/docker") {
        return;
    }
    let out = Command::new(docker)
        .env("DOCKER_HOST", d.host())
        .args(["pull", &name])
        .output()
        .expect("docker pull");
    assert!(
        out.status.success(),
        "docker pull: {} {}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("Downloaded newer image"),
        "{}",
        stdout(&out)
    );
    let push = Command::new(docker)
        .env("DOCKER_HOST", d.host())
        .args(["push", &name])
        .output()
        .expect("docker push");
    assert!(
        push.status.success(),
        "docker push: {} {}",
        stdout(&push),
        stderr(&push)
    );
    assert!(
        stdout(&push).contains("v1: digest: sha256:"),
        "{}",
        stdout(&push)
    );
}

#[test]
fn pull_all_tags_pulls_every_tag_once() {
    let Some(reg) = Registry::start(None) else {
        return;
    };
    let d = Daemon::start();
    let (base, base_diff) = busybox_layer();
    let layer = |text: &str| {
        let plain = tar_of(&[("tag.txt", text)]);
        let diff = sha256(&plain);
        (gzip(&plain), GZ, diff)
    };
    reg.put_image(
        "alltags",
        "v1",
        "amd64",
        &[(base.clone(), GZ, base_diff.clone())],
    );
    reg.put_image(
        "alltags",
        "v2",
        "amd64",
        &[(base.clone(), GZ, base_diff.clone()), layer("two\n")],
    );
    reg.put_image(
        "alltags",
        "v3",
        "amd64",
        &[(base, GZ, base_diff), layer("three\n")],
    );
    let repo = format!("{}/alltags", reg.host());

    let refused = d.berth(&["pull", "-a", &format!("{repo}:v1")]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("tag can't be used with --all-tags/-a"),
        "{}",
        stderr(&refused)
    );

    let out = d.berth(&["pull", "--all-tags", &repo]);
    assert!(out.status.success(), "pull -a: {}", stderr(&out));
    let progress = stderr(&out);
    for tag in ["v1", "v2", "v3"] {
        assert!(
            progress.contains(&format!("{tag}: Pulling from alltags")),
            "{progress}"
        );
    }
    assert!(progress.contains("Already exists"), "{progress}");
    assert_eq!(progress.matches("Digest: sha256:").count(), 3, "{progress}");
    assert_eq!(
        progress.matches("Status: ").count(),
        1,
        "one status line for the repository: {progress}"
    );
    assert!(
        progress.contains(&format!("Status: Downloaded newer image for {repo}")),
        "{progress}"
    );
    assert_eq!(stdout(&out).trim().lines().last(), Some(repo.as_str()));
    assert!(
        !stdout(&out).contains("Using default tag"),
        "{}",
        stdout(&out)
    );
    let tags = d.ok(&["images", "--format", "{{.Tag}}", &repo]);
    let mut tags: Vec<&str> = tags.lines().collect();
    tags.sort();
    assert_eq!(tags, ["v1", "v2", "v3"]);
    assert_eq!(
        d.ok(&["run", "--rm", &format!("{repo}:v3"), "cat", "/tag.txt"]),
        "three"
    );
    assert_eq!(
        d.ok(&["run", "--rm", &format!("{repo}:v2"), "cat", "/tag.txt"]),
        "two"
    );

    let again = d.berth(&["pull", "-a", &repo]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains(&format!("Status: Image is up to date for {repo}")),
        "{}",
        stderr(&again)
    );

    // the API: fromImage without a tag pulls every tag, as with dockerd
    d.ok(&[
        "rmi",
        &format!("{repo}:v1"),
        &format!("{repo}:v2"),
        &format!("{repo}:v3"),
    ]);
    let raw = d
        .raw_request("POST", &format!("/images/create?fromImage={repo}"), "")
        .expect("request");
    assert!(
        raw.contains(r#"{"status":"Pulling from alltags","id":"v2"}"#),
        "{raw}"
    );
    assert_eq!(d.ok(&["images", "-q", &repo]).lines().count(), 3);

    let missing = d.berth(&["pull", "-a", &format!("{}/nothing-here", reg.host())]);
    assert!(!missing.status.success());
}

/// Names in the daemon's content store.
fn blob_files(d: &Daemon) -> std::collections::BTreeSet<String> {
    std::fs::read_dir(d.root.path().join("data/image/blobs/sha256"))
        .expect("blobs dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

fn blob_bytes(d: &Daemon) -> u64 {
    std::fs::read_dir(d.root.path().join("data/image/blobs/sha256"))
        .expect("blobs dir")
        .map(|e| e.expect("entry").metadata().expect("stat").len())
        .sum()
}

#[test]
fn rmi_collects_manifests_and_compressed_blobs_shared_ones_stay() {
    let Some(reg) = Registry::start(None) else {
        return;
    };
    let d = Daemon::start();
    let baseline = blob_files(&d);
    let baseline_bytes = blob_bytes(&d);
    let df = |d: &Daemon| {
        d.ok(&[
            "system",
            "df",
            "--format",
            "{{.Type}} {{.TotalCount}} {{.Size}}",
        ])
    };
    let df_baseline = df(&d);

    let gz_layer = |files: &[(&str, &str)]| {
        let plain = tar_of(files);
        let diff = sha256(&plain);
        (gzip(&plain), GZ, diff)
    };
    let shared = gz_layer(&[("shared.txt", &"shared layer\n".repeat(1000))]);
    let only_a = gz_layer(&[("a.txt", "a\n")]);
    let only_b = gz_layer(&[("b.txt", "b\n")]);
    let (_, manifest_a) = reg.put_image("gc", "a", "amd64", &[shared.clone(), only_a.clone()]);
    let (_, manifest_b) = reg.put_image("gc", "b", "amd64", &[shared.clone(), only_b.clone()]);
    let hex = |bytes: &[u8]| sha256(bytes).trim_start_matches("sha256:").to_string();
    let a = format!("{}/gc:a", reg.host());
    let b = format!("{}/gc:b", reg.host());
    d.ok(&["pull", &a]);
    d.ok(&["pull", &b]);
    let files = blob_files(&d);
    for blob in [hex(&shared.0), hex(&only_a.0), hex(&only_b.0)] {
        assert!(files.contains(&blob), "pulled blob {blob} stored");
    }
    for m in [&manifest_a, &manifest_b] {
        assert!(
            files.contains(m.trim_start_matches("sha256:")),
            "manifest {m} stored"
        );
    }

    d.ok(&["rmi", &a]);
    let files = blob_files(&d);
    assert!(
        files.contains(&hex(&shared.0)),
        "a shared blob stays while b uses it"
    );
    assert!(files.contains(&hex(&only_b.0)));
    assert!(files.contains(manifest_b.trim_start_matches("sha256:")));
    assert!(
        !files.contains(&hex(&only_a.0)),
        "a's own layer blob is collected"
    );
    assert!(
        !files.contains(manifest_a.trim_start_matches("sha256:")),
        "a's manifest is collected"
    );
    let upper = d.ok(&[
        "image",
        "inspect",
        "--format",
        "{{.GraphDriver.Data.UpperDir}}",
        &b,
    ]);
    assert_eq!(
        std::fs::read_to_string(Path::new(&upper).join("b.txt")).expect("b.txt"),
        "b\n"
    );

    d.ok(&["rmi", &b]);
    assert_eq!(
        blob_files(&d),
        baseline,
        "the content store is back to its baseline"
    );
    assert_eq!(blob_bytes(&d), baseline_bytes);

    // a push compresses the layer and keeps the manifest; deleting the image frees both
    let solo = tempfile::NamedTempFile::new().expect("tempfile");
    std::fs::write(
        solo.path(),
        tar_of(&[("solo.txt", &"pushed\n".repeat(5000))]),
    )
    .expect("tar");
    let pushed = format!("{}/gc:pushed", reg.host());
    d.ok(&["import", solo.path().to_str().expect("path"), &pushed]);
    d.ok(&["push", &pushed]);
    assert!(
        blob_files(&d).len() >= baseline.len() + 4,
        "layer, gzip blob, config, manifest"
    );
    d.ok(&["rmi", &pushed]);
    assert_eq!(blob_files(&d), baseline);
    assert_eq!(df(&d), df_baseline, "system df agrees");
}

/// A credential helper `docker-credential-berthtest` (shell) keeping one file per server in
/// `<dir>/store`, and logging each call to `<dir>/calls`.
fn write_credential_helper(dir: &Path) {
    let script = r#"#!/bin/sh
here=$(dirname "$0")
mkdir -p "$here/store"
input=$(cat)
echo "$1" >> "$here/calls"
case "$1" in
  store)
    server=$(printf '%s' "$input" | sed 's/.*"ServerURL":"\([^"]*\)".*/\1/')
    printf '%s' "$input" > "$here/store/$(printf %s "$server" | tr '/:' '__')" ;;
  get)
    f="$here/store/$(printf %s "$input" | tr '/:' '__')"
    if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  erase)
    rm -f "$here/store/$(printf %s "$input" | tr '/:' '__')" ;;
  *) echo "unknown action $1" >&2; exit 2 ;;
esac
"#;
    let path = dir.join("docker-credential-berthtest");
    std::fs::write(&path, script).expect("write helper");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[test]
fn credential_helpers_store_get_and_erase_for_login_push_pull_logout() {
    let Some(reg) = Registry::start(Some(("helped", "h3lper"))) else {
        return;
    };
    let d = Daemon::start();
    let bin = tempfile::tempdir().expect("tempdir");
    write_credential_helper(bin.path());
    let config_dir = tempfile::tempdir().expect("tempdir");
    let config = config_dir.path().join("config.json");
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let berth = |args: &[&str], stdin: &str| {
        let mut child = d
            .berth_cmd(args)
            .env("DOCKER_CONFIG", config_dir.path())
            .env("PATH", &path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("berth");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("stdin");
        child.wait_with_output().expect("berth")
    };
    let stored = bin.path().join("store").join(reg.host().replace(':', "_"));
    let name = format!("{}/helped/bb:v1", reg.host());
    d.ok(&["tag", "busybox", &name]);

    for helpers in [
        json!({"credsStore": "berthtest"}),
        // a per-registry helper wins over credsStore (which names a helper that is not there)
        json!({"credsStore": "absent", "credHelpers": {reg.host(): "berthtest"}}),
    ] {
        std::fs::write(&config, helpers.to_string()).expect("config");
        let login = berth(
            &["login", "-u", "helped", "--password-stdin", &reg.host()],
            "h3lper\n",
        );
        assert!(login.status.success(), "{}", stderr(&login));
        assert!(stdout(&login).contains("Login Succeeded"));
        assert!(
            !stderr(&login).contains("unencrypted"),
            "{}",
            stderr(&login)
        );
        let secret = std::fs::read_to_string(&stored).expect("the helper stored the secret");
        assert!(secret.contains(r#""Secret":"h3lper""#), "{secret}");
        assert!(secret.contains(r#""Username":"helped""#), "{secret}");
        let saved: Value =
            serde_json::from_slice(&std::fs::read(&config).expect("read")).expect("json");
        assert_eq!(
            saved["auths"][reg.host()],
            json!({}),
            "no secret in config.json: {saved}"
        );
        assert_eq!(
            saved["credsStore"], helpers["credsStore"],
            "other keys kept"
        );

        let pushed = berth(&["push", &name], "");
        assert!(
            pushed.status.success(),
            "push with helper credentials: {}",
            stderr(&pushed)
        );
        d.ok(&["rmi", &name]);
        let pulled = berth(&["pull", &name], "");
        assert!(
            pulled.status.success(),
            "pull with helper credentials: {}",
            stderr(&pulled)
        );

        let logout = berth(&["logout", &reg.host()], "");
        assert!(logout.status.success(), "{}", stderr(&logout));
        assert!(!stored.exists(), "logout erased the helper's credentials");
        let saved: Value =
            serde_json::from_slice(&std::fs::read(&config).expect("read")).expect("json");
        assert!(saved["auths"].get(reg.host()).is_none(), "{saved}");
        d.ok(&["rmi", &name]);
        let denied = berth(&["pull", &name], "");
        assert!(
            !denied.status.success(),
            "pull without credentials succeeded"
        );
        d.ok(&["tag", "busybox", &name]);
    }
    let calls = std::fs::read_to_string(bin.path().join("calls")).expect("calls");
    for action in ["store", "get", "erase"] {
        assert!(calls.lines().any(|l| l == action), "{calls}");
    }
}
