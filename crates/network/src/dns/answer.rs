//! What the embedded DNS server does with one query: answer it from the container names it
//! knows, or hand it to the upstream resolvers. Pure message logic, no sockets.

use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::Resolve;

/// TTL of answers for container names, as Docker's embedded DNS (`respTTL`).
pub(crate) const ANSWER_TTL: u32 = 600;
/// UDP payload size a client without EDNS accepts (RFC 1035).
pub(crate) const PLAIN_UDP_LIMIT: usize = 512;
/// The UDP payload size we advertise in our own EDNS answers.
const OUR_EDNS_PAYLOAD: u16 = 4096;

/// The server's decision for one incoming message.
pub(crate) enum Outcome {
    /// Send this reply to the client.
    Reply(Message),
    /// Not a container name: forward the raw query upstream (or SERVFAIL on internal
    /// networks, which the caller decides with `forward`).
    Forward(Message),
    /// Not something to answer (a response, or garbage without a header): say nothing, so a
    /// spoofed reply can never start a loop between two servers.
    Drop,
}

/// Decides what to do with the raw message `bytes` sent by container `requester`.
pub(crate) fn decide(bytes: &[u8], requester: &str, resolver: &dyn Resolve) -> Outcome {
    let query = match Message::from_vec(bytes) {
        Ok(query) => query,
        Err(_) if bytes.len() >= 12 && bytes[2] & 0x80 == 0 => {
            let id = u16::from_be_bytes([bytes[0], bytes[1]]);
            return Outcome::Reply(Message::error_msg(id, OpCode::Query, ResponseCode::FormErr));
        }
        Err(_) => return Outcome::Drop,
    };
    if query.message_type() != MessageType::Query {
        return Outcome::Drop;
    }
    if query.op_code() != OpCode::Query {
        return Outcome::Reply(reply(&query, ResponseCode::NotImp, Vec::new()));
    }
    let [question] = query.queries() else {
        return Outcome::Reply(reply(&query, ResponseCode::FormErr, Vec::new()));
    };
    let qname = question.name().clone();
    let name = normalize(&qname);
    match question.query_type() {
        RecordType::A => {
            let addrs = lookup(resolver, requester, &name);
            if addrs.is_empty() {
                return Outcome::Forward(query);
            }
            let answers = addrs
                .into_iter()
                .map(|ip| Record::from_rdata(qname.clone(), ANSWER_TTL, RData::A(A(ip))))
                .collect();
            Outcome::Reply(reply(&query, ResponseCode::NoError, answers))
        }
        // Docker: a container name has no IPv6 address here; answer "no data" rather than
        // forwarding, so clients do not wait on upstream for a name only we know.
        RecordType::AAAA if !lookup(resolver, requester, &name).is_empty() => {
            Outcome::Reply(reply(&query, ResponseCode::NoError, Vec::new()))
        }
        RecordType::PTR => {
            let target = match qname.parse_arpa_name() {
                Ok(net) if net.prefix_len() == 32 => match net.addr() {
                    IpAddr::V4(ip) => resolver.reverse(requester, ip),
                    IpAddr::V6(_) => None,
                },
                _ => None,
            };
            let Some(target) = target.and_then(|t| fqdn(&t)) else {
                return Outcome::Forward(query);
            };
            let answer = Record::from_rdata(qname, ANSWER_TTL, RData::PTR(PTR(target)));
            Outcome::Reply(reply(&query, ResponseCode::NoError, vec![answer]))
        }
        _ => Outcome::Forward(query),
    }
}

/// Docker's lookup order: the whole name on every network of the requester, then for
/// `a.b.c`: `a.b` on network `c`, then `a` on network `b.c`.
fn lookup(resolver: &dyn Resolve, requester: &str, name: &str) -> Vec<Ipv4Addr> {
    if name.is_empty() {
        return Vec::new();
    }
    let addrs = resolver.resolve(requester, name);
    if !addrs.is_empty() {
        return addrs;
    }
    let mut end = name.len();
    while let Some(dot) = name[..end].rfind('.') {
        let (prefix, network) = (&name[..dot], &name[dot + 1..]);
        if !prefix.is_empty() && !network.is_empty() {
            let addrs = resolver.resolve_on_network(requester, prefix, network);
            if !addrs.is_empty() {
                return addrs;
            }
        }
        end = dot;
    }
    Vec::new()
}

/// The name as the resolver sees it: lowercase, no trailing dot.
fn normalize(name: &Name) -> String {
    let ascii = name.to_ascii().to_ascii_lowercase();
    ascii.strip_suffix('.').unwrap_or(&ascii).to_owned()
}

fn fqdn(name: &str) -> Option<Name> {
    let name = name.trim_end_matches('.');
    Name::from_ascii(format!("{name}.")).ok()
}

/// A reply to `query` with its question, id and RD flag, RA set as Docker does.
pub(crate) fn reply(query: &Message, code: ResponseCode, answers: Vec<Record>) -> Message {
    let mut msg = Message::new();
    msg.set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_op_code(query.op_code())
        .set_recursion_desired(query.recursion_desired())
        .set_recursion_available(true)
        .set_response_code(code);
    msg.add_queries(query.queries().to_vec());
    msg.add_answers(answers);
    if query.extensions().is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(OUR_EDNS_PAYLOAD);
        msg.set_edns(edns);
    }
    msg
}

/// The largest UDP reply the client that sent `query` accepts.
pub(crate) fn udp_limit(query: &Message) -> usize {
    query.extensions().as_ref().map_or(PLAIN_UDP_LIMIT, |edns| {
        usize::from(edns.max_payload()).max(PLAIN_UDP_LIMIT)
    })
}

/// Encodes `msg`; over UDP a reply larger than `limit` loses its records and gets TC so the
/// client retries over TCP. `None` only when the message cannot be encoded at all.
pub(crate) fn encode(mut msg: Message, limit: Option<usize>) -> Option<Vec<u8>> {
    let bytes = match msg.to_vec() {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::warn!(%error, "encoding a dns reply");
            msg.take_answers();
            msg.set_response_code(ResponseCode::ServFail);
            return msg.to_vec().ok();
        }
    };
    match limit {
        Some(limit) if bytes.len() > limit => {
            msg.take_answers();
            msg.set_truncated(true);
            msg.to_vec().ok()
        }
        _ => Some(bytes),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;

    struct Fake;
    impl Resolve for Fake {
        fn resolve(&self, requester: &str, name: &str) -> Vec<Ipv4Addr> {
            match (requester, name) {
                ("c1", "web") => vec![Ipv4Addr::new(172, 18, 0, 2)],
                _ => Vec::new(),
            }
        }
        fn resolve_on_network(&self, _: &str, name: &str, network: &str) -> Vec<Ipv4Addr> {
            match (name, network) {
                ("web", "my.net") => vec![Ipv4Addr::new(172, 18, 0, 2)],
                _ => Vec::new(),
            }
        }
        fn reverse(&self, _: &str, ip: Ipv4Addr) -> Option<String> {
            (ip == Ipv4Addr::new(172, 18, 0, 2)).then(|| "web.my.net".to_owned())
        }
    }

    fn query(name: &str, kind: RecordType) -> Vec<u8> {
        let mut msg = Message::new();
        msg.set_id(7).set_recursion_desired(true);
        msg.add_query(Query::query(Name::from_ascii(name).unwrap(), kind));
        msg.to_vec().unwrap()
    }

    fn answer(bytes: &[u8], requester: &str) -> Option<Message> {
        match decide(bytes, requester, &Fake) {
            Outcome::Reply(msg) => Some(msg),
            Outcome::Forward(_) => None,
            Outcome::Drop => panic!("dropped"),
        }
    }

    #[test]
    fn a_for_container_names_case_insensitive_and_per_requester() {
        let msg = answer(&query("WEB.", RecordType::A), "c1").unwrap();
        assert_eq!(msg.id(), 7);
        assert_eq!(msg.response_code(), ResponseCode::NoError);
        assert_eq!(msg.answers().len(), 1);
        assert_eq!(msg.answers()[0].ttl(), 600);
        assert_eq!(msg.answers()[0].data(), &RData::A(A::new(172, 18, 0, 2)));
        assert!(answer(&query("web.", RecordType::A), "c2").is_none());
        assert!(answer(&query("example.com.", RecordType::A), "c1").is_none());
    }

    #[test]
    fn name_dot_network_is_looked_up_on_that_network() {
        let msg = answer(&query("web.my.net.", RecordType::A), "c9").unwrap();
        assert_eq!(msg.answers().len(), 1);
        assert!(answer(&query("web.other.", RecordType::A), "c9").is_none());
    }

    #[test]
    fn aaaa_for_known_name_is_empty_noerror() {
        let msg = answer(&query("web.", RecordType::AAAA), "c1").unwrap();
        assert_eq!(msg.response_code(), ResponseCode::NoError);
        assert!(msg.answers().is_empty());
        assert!(answer(&query("nope.", RecordType::AAAA), "c1").is_none());
        assert!(answer(&query("web.", RecordType::MX), "c1").is_none());
    }

    #[test]
    fn ptr_for_container_address() {
        let msg = answer(&query("2.0.18.172.in-addr.arpa.", RecordType::PTR), "c1").unwrap();
        assert_eq!(
            msg.answers()[0].data(),
            &RData::PTR(PTR(Name::from_ascii("web.my.net.").unwrap()))
        );
        assert!(answer(&query("3.0.18.172.in-addr.arpa.", RecordType::PTR), "c1").is_none());
    }

    #[test]
    fn responses_are_dropped_and_garbage_gets_formerr() {
        let mut bytes = query("web.", RecordType::A);
        bytes[2] |= 0x80;
        assert!(matches!(decide(&bytes, "c1", &Fake), Outcome::Drop));
        assert!(matches!(decide(&[1, 2, 3], "c1", &Fake), Outcome::Drop));
        let garbage = [0u8, 9, 1, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0xff];
        let msg = answer(&garbage, "c1").unwrap();
        assert_eq!(msg.response_code(), ResponseCode::FormErr);
        assert_eq!(msg.id(), 9);
    }

    #[test]
    fn oversized_udp_reply_is_truncated() {
        let q = Message::from_vec(&query("web.", RecordType::A)).unwrap();
        let answers = (0..100)
            .map(|i| {
                Record::from_rdata(
                    Name::from_ascii("web.").unwrap(),
                    600,
                    RData::A(A::new(10, 0, 0, i)),
                )
            })
            .collect();
        let bytes = encode(
            reply(&q, ResponseCode::NoError, answers),
            Some(udp_limit(&q)),
        )
        .unwrap();
        let msg = Message::from_vec(&bytes).unwrap();
        assert!(msg.truncated());
        assert!(msg.answers().is_empty());
    }
}
