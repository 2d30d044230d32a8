//! Helpers of the crate's kernel tests: names and subnets that clash with nothing else on
//! the host, even with other test processes running at the same time.

use std::net::Ipv4Addr;

use crate::driver::random_link_name;
use crate::ipam::{self, Subnet};

/// An interface name that is free: `prefix` and random hex.
pub(crate) fn random_name(prefix: &str) -> String {
    random_link_name(prefix).expect("random name")
}

/// A random /24 of 198.18.0.0/15 (the benchmarking range) that no host route covers.
pub(crate) fn test_subnet() -> Subnet {
    let routes = ipam::host_routes();
    loop {
        let byte = |at: usize| u8::from_str_radix(&random_name("")[at..at + 2], 16).unwrap_or(1);
        let subnet = Subnet {
            address: Ipv4Addr::new(198, 18 + (byte(0) & 1), byte(2), 0),
            prefix: 24,
        };
        if !routes.iter().any(|r| r.overlaps(&subnet)) {
            return subnet;
        }
    }
}
