//! `berth import http://…` and `POST /images/create?fromSrc=<url>` against a small HTTP server
//! run by the test: gzip and zstd tarballs, `--change`, `-m`, Docker's progress messages, and
//! bad sources (404, a body that is no tar, a connection dropped mid-body) failing clearly with
//! no image and no layer left behind.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;

use berth_tests::{busybox_tar, stderr, stdout, Daemon};

/// What the server answers for each path.
struct Files {
    gz: Vec<u8>,
    zst: Vec<u8>,
}

/// Serves on 127.0.0.1 from a thread (one thread per connection); stops with the process.
fn serve(files: Files) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let files = Arc::new(files);
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let files = files.clone();
            std::thread::spawn(move || {
                let _ = answer(conn, &files);
            });
        }
    });
    port
}

fn answer(mut conn: TcpStream, files: &Files) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let reply = |conn: &mut TcpStream, status: &str, body: &[u8], announced: usize| {
        write!(
            conn,
            "HTTP/1.1 {status}\r\nContent-Length: {announced}\r\nConnection: close\r\n\r\n"
        )?;
        conn.write_all(body)
    };
    match path.as_str() {
        "/rootfs.tar.gz" => reply(&mut conn, "200 OK", &files.gz, files.gz.len()),
        "/rootfs.tar.zst" => reply(&mut conn, "200 OK", &files.zst, files.zst.len()),
        "/page.html" => {
            let page = b"<html><body>this is a web page, not a tarball</body></html>\n".repeat(200);
            reply(&mut conn, "200 OK", &page, page.len())
        }
        // announces the whole archive, sends a third, then closes the connection
        "/drop.tar.gz" => {
            let part = &files.gz[..files.gz.len() / 3];
            reply(&mut conn, "200 OK", part, files.gz.len())?;
            conn.flush()?;
            conn.shutdown(std::net::Shutdown::Both)
        }
        _ => reply(&mut conn, "404 Not Found", b"no such file here", 17),
    }
}

fn fixtures() -> Files {
    let tar = std::fs::read(busybox_tar()).expect("busybox tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).expect("gzip");
    Files {
        gz: gz.finish().expect("gzip"),
        zst: zstd::encode_all(&tar[..], 3).expect("zstd"),
    }
}

/// Entries under the image store that an import could leave behind.
fn store_state(d: &Daemon) -> (usize, usize, usize) {
    let image = d.root.path().join("data/image");
    let count = |sub: &str| {
        std::fs::read_dir(Path::new(&image).join(sub))
            .map(|r| r.count())
            .unwrap_or(0)
    };
    (
        count("layers"),
        count("blobs/sha256"),
        count("tmp") + count("ingest"),
    )
}

#[test]
fn import_from_url_with_changes_message_and_progress() {
    let port = serve(fixtures());
    let d = Daemon::start();
    let url = format!("http://127.0.0.1:{port}/rootfs.tar.gz");
    let out = d.ok(&[
        "import",
        "-c",
        "CMD [\"echo\", \"from the web\"]",
        "-c",
        "ENV WHERE=url",
        "-m",
        "fetched",
        &url,
        "urlimg:v1",
    ]);
    // Docker's CLI prints the status lines, not the progress bars, when not on a terminal
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.first(),
        Some(&format!("Downloading from {url}").as_str()),
        "{out}"
    );
    assert!(
        lines.last().is_some_and(|l| l.starts_with("sha256:")),
        "{out}"
    );
    assert_eq!(d.ok(&["run", "--rm", "urlimg:v1"]), "from the web");
    assert_eq!(
        d.ok(&["run", "--rm", "urlimg:v1", "sh", "-c", "echo $WHERE"]),
        "url"
    );
    assert_eq!(
        d.ok(&["inspect", "--format", "{{.Comment}}", "urlimg:v1"]),
        "fetched"
    );

    // the API: zstd, default message "Imported from <url>", Docker's progress messages
    let zurl = format!("http://127.0.0.1:{port}/rootfs.tar.zst");
    let response = d
        .raw_request(
            "POST",
            &format!("/v1.41/images/create?fromSrc={zurl}&repo=urlimg&tag=zstd"),
            "",
        )
        .expect("request");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains(&format!(r#"{{"status":"Downloading from {zurl}"}}"#)),
        "{response}"
    );
    assert!(response.contains(r#""status":"Importing""#), "{response}");
    assert!(
        response.contains(r#""progressDetail":{"current":"#),
        "{response}"
    );
    assert!(response.contains(r#"{"status":"sha256:"#), "{response}");
    assert_eq!(
        d.ok(&["inspect", "--format", "{{.Comment}}", "urlimg:zstd"]),
        format!("Imported from {zurl}")
    );
    // same content, same layer as the gzip import and the busybox image
    let layers = |r: &str| d.ok(&["inspect", "--format", "{{json .RootFS.Layers}}", r]);
    assert_eq!(layers("urlimg:zstd"), layers("urlimg:v1"));
    assert_eq!(layers("urlimg:zstd"), layers("busybox"));
}

#[test]
fn bad_url_sources_fail_clearly_and_leave_nothing() {
    let port = serve(fixtures());
    let d = Daemon::start();
    let images_before = d.ok(&["images", "-q", "--no-trunc"]);
    let store_before = store_state(&d);

    let missing = format!("http://127.0.0.1:{port}/missing.tar");
    let out = d.berth(&["import", &missing, "bad:404"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!(
            "failed to GET {missing} with status 404 Not Found: no such file here"
        )),
        "{}",
        stderr(&out)
    );
    let raw = d
        .raw_request("POST", &format!("/images/create?fromSrc={missing}"), "")
        .expect("request");
    assert!(raw.starts_with("HTTP/1.1 404"), "{raw}");

    let page = format!("http://127.0.0.1:{port}/page.html");
    let out = d.berth(&["import", &page, "bad:html"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stderr(&out).contains("archive"), "{}", stderr(&out));

    let drop = format!("http://127.0.0.1:{port}/drop.tar.gz");
    let out = d.berth(&["import", &drop, "bad:drop"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(!stderr(&out).is_empty());

    // nothing listens here: connection refused
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let out = d.berth(&[
        "import",
        &format!("http://127.0.0.1:{closed}/x.tar"),
        "bad:refused",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("127.0.0.1:{closed}")),
        "{}",
        stderr(&out)
    );

    assert_eq!(d.ok(&["images", "-q", "--no-trunc"]), images_before);
    assert_eq!(
        store_state(&d),
        store_before,
        "an import left files in the store"
    );
    // the daemon is still serving
    assert_eq!(d.ok(&["run", "--rm", "busybox", "echo", "alive"]), "alive");
}
