//! The embedded DNS server, end to end: a real network namespace, the server on
//! 127.0.0.11:53 inside it, a fake upstream resolver on the host's loopback, and queries sent
//! from a thread inside the namespace. Needs root (CI=true: fails loudly without it).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_network::dns::{EmbeddedDns, Options, Resolve, DNS_ADDRESS};
use berth_network::netns::NetNs;
use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI=true and the test needs root"
        );
        eprintln!("skipping: needs root");
    }
    root
}

/// Knows `web` (172.18.0.2) for requester `c1` only, and `db` on network `backend`.
struct Fake;

impl Resolve for Fake {
    fn resolve(&self, requester: &str, name: &str) -> Vec<Ipv4Addr> {
        match (requester, name) {
            ("c1", "web") => vec![Ipv4Addr::new(172, 18, 0, 2)],
            _ => Vec::new(),
        }
    }
    fn resolve_on_network(&self, requester: &str, name: &str, network: &str) -> Vec<Ipv4Addr> {
        match (requester, name, network) {
            ("c1", "db", "backend") => vec![Ipv4Addr::new(172, 19, 0, 3)],
            _ => Vec::new(),
        }
    }
    fn reverse(&self, requester: &str, ip: Ipv4Addr) -> Option<String> {
        (requester == "c1" && ip == Ipv4Addr::new(172, 18, 0, 2)).then(|| "web.frontend".into())
    }
}

/// A fake upstream resolver on 127.0.0.1 (UDP and TCP, same port). Answers A `1.2.3.4`
/// for any name; for `big.test.` the UDP answer is truncated and the TCP one has two records.
struct Upstream {
    addr: SocketAddr,
    queries: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn upstream_reply(raw: &[u8], over_tcp: bool) -> Vec<u8> {
    let query = Message::from_vec(raw).expect("upstream got a valid query");
    let name = query.queries()[0].name().clone();
    let mut reply = Message::new();
    reply
        .set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_recursion_available(true);
    reply.add_queries(query.queries().to_vec());
    if name.to_ascii() == "big.test." && !over_tcp {
        reply.set_truncated(true);
    } else {
        reply.add_answer(Record::from_rdata(
            name.clone(),
            30,
            RData::A(A::new(1, 2, 3, 4)),
        ));
        if over_tcp {
            reply.add_answer(Record::from_rdata(name, 30, RData::A(A::new(1, 2, 3, 5))));
        }
    }
    reply.to_vec().expect("encode upstream reply")
}

async fn fake_upstream() -> Upstream {
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind upstream udp");
    let addr = udp.local_addr().expect("upstream addr");
    let tcp = tokio::net::TcpListener::bind(addr)
        .await
        .expect("bind upstream tcp");
    let queries = Arc::new(AtomicUsize::new(0));
    let counter = queries.clone();
    let udp_task = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = udp.recv_from(&mut buf).await {
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = udp.send_to(&upstream_reply(&buf[..n], false), from).await;
        }
    });
    let tcp_task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = tcp.accept().await {
            let len = stream.read_u16().await.expect("tcp length");
            let mut raw = vec![0u8; usize::from(len)];
            stream.read_exact(&mut raw).await.expect("tcp query");
            let reply = upstream_reply(&raw, true);
            let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&reply);
            stream.write_all(&framed).await.expect("tcp reply");
        }
    });
    Upstream {
        addr,
        queries,
        tasks: vec![udp_task, tcp_task],
    }
}

fn query(name: &str, kind: RecordType) -> Message {
    let mut msg = Message::new();
    msg.set_id(0x4242).set_recursion_desired(true);
    msg.add_query(Query::query(Name::from_ascii(name).expect("name"), kind));
    msg
}

/// Sends `msg` over UDP from inside `ns` to 127.0.0.11:53; `None` when nothing came back.
async fn ask_udp(ns: &Arc<NetNs>, msg: Message) -> Option<Message> {
    let ns = ns.clone();
    tokio::task::spawn_blocking(move || {
        ns.run(|| {
            let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("client socket");
            socket
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            socket
                .send_to(&msg.to_vec().expect("encode"), DNS_ADDRESS)
                .expect("send query");
            let mut buf = vec![0u8; 65535];
            Ok(socket
                .recv(&mut buf)
                .ok()
                .map(|n| Message::from_vec(&buf[..n]).expect("valid reply")))
        })
        .expect("run in namespace")
    })
    .await
    .expect("client thread")
}

/// Sends `msg` over TCP from inside `ns` to 127.0.0.11:53.
async fn ask_tcp(ns: &Arc<NetNs>, msg: Message) -> Message {
    use std::io::{Read, Write};
    let ns = ns.clone();
    tokio::task::spawn_blocking(move || {
        ns.run(|| {
            let mut stream = std::net::TcpStream::connect(DNS_ADDRESS).expect("connect");
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            let raw = msg.to_vec().expect("encode");
            let mut framed = (raw.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&raw);
            stream.write_all(&framed).expect("send");
            let mut len = [0u8; 2];
            stream.read_exact(&mut len).expect("reply length");
            let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
            stream.read_exact(&mut reply).expect("reply");
            Ok(Message::from_vec(&reply).expect("valid reply"))
        })
        .expect("run in namespace")
    })
    .await
    .expect("client thread")
}

fn a_records(msg: &Message) -> Vec<Ipv4Addr> {
    msg.answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

fn start(ns: &NetNs, upstream: Vec<SocketAddr>, forward: bool) -> EmbeddedDns {
    EmbeddedDns::start(ns, "c1".into(), upstream, forward, Arc::new(Fake)).expect("start dns")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_container_names_and_forwards_the_rest() {
    if !is_root() {
        return;
    }
    let upstream = fake_upstream().await;
    let ns = Arc::new(NetNs::create().expect("netns"));
    let _dns = start(&ns, vec![upstream.addr], true);

    let reply = ask_udp(&ns, query("Web.", RecordType::A))
        .await
        .expect("reply");
    assert_eq!(reply.id(), 0x4242);
    assert_eq!(reply.response_code(), ResponseCode::NoError);
    assert_eq!(a_records(&reply), [Ipv4Addr::new(172, 18, 0, 2)]);
    assert_eq!(reply.answers()[0].ttl(), 600);
    assert!(reply.recursion_available());

    let reply = ask_udp(&ns, query("db.backend.", RecordType::A))
        .await
        .expect("reply");
    assert_eq!(a_records(&reply), [Ipv4Addr::new(172, 19, 0, 3)]);

    let reply = ask_udp(&ns, query("web.", RecordType::AAAA))
        .await
        .expect("reply");
    assert_eq!(reply.response_code(), ResponseCode::NoError);
    assert!(reply.answers().is_empty());

    let reply = ask_udp(&ns, query("2.0.18.172.in-addr.arpa.", RecordType::PTR))
        .await
        .expect("reply");
    assert_eq!(
        reply.answers()[0].data(),
        &RData::PTR(PTR(Name::from_ascii("web.frontend.").expect("name")))
    );
    assert_eq!(
        upstream.queries.load(Ordering::SeqCst),
        0,
        "local names stay local"
    );

    let reply = ask_udp(&ns, query("example.com.", RecordType::A))
        .await
        .expect("reply");
    assert_eq!(reply.id(), 0x4242);
    assert_eq!(a_records(&reply), [Ipv4Addr::new(1, 2, 3, 4)]);
    assert_eq!(upstream.queries.load(Ordering::SeqCst), 1);

    // Over TCP: local names and forwarding (forwarded over TCP: the upstream's TCP answer
    // has two records).
    let reply = ask_tcp(&ns, query("web.", RecordType::A)).await;
    assert_eq!(a_records(&reply), [Ipv4Addr::new(172, 18, 0, 2)]);
    let reply = ask_tcp(&ns, query("example.com.", RecordType::A)).await;
    assert_eq!(
        a_records(&reply),
        [Ipv4Addr::new(1, 2, 3, 4), Ipv4Addr::new(1, 2, 3, 5)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_upstream_answer_is_retried_over_tcp() {
    if !is_root() {
        return;
    }
    let upstream = fake_upstream().await;
    let ns = Arc::new(NetNs::create().expect("netns"));
    let _dns = start(&ns, vec![upstream.addr], true);
    let reply = ask_udp(&ns, query("big.test.", RecordType::A))
        .await
        .expect("reply");
    assert!(!reply.truncated());
    assert_eq!(
        a_records(&reply),
        [Ipv4Addr::new(1, 2, 3, 4), Ipv4Addr::new(1, 2, 3, 5)]
    );
    // An EDNS client is answered with EDNS.
    let mut msg = query("web.", RecordType::A);
    msg.set_edns(Edns::new());
    let reply = ask_udp(&ns, msg).await.expect("reply");
    assert!(reply.extensions().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_or_silent_upstream_gives_servfail() {
    if !is_root() {
        return;
    }
    // Nothing listens on a port we just released: ECONNREFUSED at once.
    let dead = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("free port");
    let ns = Arc::new(NetNs::create().expect("netns"));
    let _dns = start(&ns, vec![dead], true);
    let reply = ask_udp(&ns, query("example.com.", RecordType::A))
        .await
        .expect("reply");
    assert_eq!(reply.response_code(), ResponseCode::ServFail);
    assert_eq!(reply.id(), 0x4242);
    // Container names still work without upstream.
    let reply = ask_udp(&ns, query("web.", RecordType::A))
        .await
        .expect("reply");
    assert_eq!(a_records(&reply), [Ipv4Addr::new(172, 18, 0, 2)]);

    // An upstream that swallows queries: SERVFAIL after the timeout.
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("silent");
    let ns2 = Arc::new(NetNs::create().expect("netns"));
    let options = Options {
        upstream_timeout: Duration::from_millis(300),
        ..Options::default()
    };
    let _dns2 = EmbeddedDns::start_with(
        &ns2,
        "c1".into(),
        vec![silent.local_addr().expect("addr")],
        true,
        Arc::new(Fake),
        options,
    )
    .expect("start dns");
    let reply = ask_udp(&ns2, query("example.com.", RecordType::A))
        .await
        .expect("reply");
    assert_eq!(reply.response_code(), ResponseCode::ServFail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_network_answers_only_container_names() {
    if !is_root() {
        return;
    }
    let upstream = fake_upstream().await;
    let ns = Arc::new(NetNs::create().expect("netns"));
    let _dns = start(&ns, vec![upstream.addr], false);
    let reply = ask_udp(&ns, query("example.com.", RecordType::A))
        .await
        .expect("reply");
    assert_eq!(reply.response_code(), ResponseCode::ServFail);
    let reply = ask_tcp(&ns, query("example.com.", RecordType::A)).await;
    assert_eq!(reply.response_code(), ResponseCode::ServFail);
    assert_eq!(upstream.queries.load(Ordering::SeqCst), 0);
    let reply = ask_udp(&ns, query("web.", RecordType::A))
        .await
        .expect("reply");
    assert_eq!(a_records(&reply), [Ipv4Addr::new(172, 18, 0, 2)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_server_closes_its_sockets() {
    if !is_root() {
        return;
    }
    let ns = Arc::new(NetNs::create().expect("netns"));
    let dns = start(&ns, Vec::new(), true);
    // The address is taken while the server runs.
    let taken = ns.run(|| Ok(std::net::UdpSocket::bind(DNS_ADDRESS).is_err()));
    assert!(taken.expect("run"));
    drop(dns);
    // Abort is asynchronous: the sockets close when the runtime drops the tasks.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let free = ns
            .run(|| {
                Ok(std::net::UdpSocket::bind(DNS_ADDRESS).is_ok()
                    && std::net::TcpListener::bind(DNS_ADDRESS).is_ok())
            })
            .expect("run");
        if free {
            break;
        }
        assert!(Instant::now() < deadline, "sockets still open after drop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Nobody answers any more (the client times out).
    let ns2 = ns.clone();
    let silent = tokio::task::spawn_blocking(move || {
        ns2.run(|| {
            let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("client");
            socket
                .set_read_timeout(Some(Duration::from_millis(300)))
                .expect("timeout");
            let raw = query("web.", RecordType::A).to_vec().expect("encode");
            // ECONNREFUSED (nothing bound) or a timeout: either way no answer.
            let _ = socket.send_to(&raw, DNS_ADDRESS);
            let mut buf = [0u8; 512];
            Ok(socket.recv(&mut buf).is_err())
        })
    })
    .await
    .expect("thread")
    .expect("run");
    assert!(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_adopts_an_existing_namespace() {
    if !is_root() {
        return;
    }
    let created = NetNs::create().expect("netns");
    let adopted = Arc::new(NetNs::open(&created.path()).expect("open netns"));
    drop(created);
    // The adopted descriptor keeps the namespace (and its loopback) alive and usable.
    let _dns = start(&adopted, Vec::new(), true);
    let reply = ask_udp(&adopted, query("web.", RecordType::A))
        .await
        .expect("reply");
    assert_eq!(a_records(&reply), [Ipv4Addr::new(172, 18, 0, 2)]);

    let err = NetNs::open(std::path::Path::new("/proc/self/ns/uts")).expect_err("uts is not net");
    assert!(
        err.to_string().contains("is not a network namespace"),
        "{err}"
    );
    let err = NetNs::open(std::path::Path::new("/nonexistent/ns")).expect_err("missing");
    assert!(err.to_string().contains("/nonexistent/ns"), "{err}");
}
