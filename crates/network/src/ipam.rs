//! IPv4 subnets and address allocation. Stateless: the caller passes the addresses in use.

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::error::{Error, Result};

/// An IPv4 network in CIDR form; `address` may have host bits set (`--bip 10.1.0.1/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub address: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    fn mask(&self) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0)
    }

    /// The network address (host bits cleared).
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.address) & self.mask())
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network()) | !self.mask())
    }

    /// The same subnet with host bits cleared.
    pub fn canonical(&self) -> Subnet {
        Subnet {
            address: self.network(),
            prefix: self.prefix,
        }
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network())
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        let prefix = self.prefix.min(other.prefix);
        let a = Subnet {
            address: self.address,
            prefix,
        };
        a.contains(other.address)
    }

    /// The first usable address, which the gateway gets by default.
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network()).saturating_add(1))
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = Error;

    fn from_str(s: &str) -> Result<Subnet> {
        let invalid = || Error::InvalidArgument(format!("invalid CIDR address: {s}"));
        let (address, prefix) = s.split_once('/').ok_or_else(invalid)?;
        let address: Ipv4Addr = address.parse().map_err(|_| invalid())?;
        let prefix: u8 = prefix.parse().map_err(|_| invalid())?;
        if prefix > 32 {
            return Err(invalid());
        }
        if prefix > 30 {
            return Err(Error::InvalidArgument(format!(
                "subnet {s} is too small: at least a /30 is needed"
            )));
        }
        Ok(Subnet { address, prefix })
    }
}

/// Picks the lowest free host address of `range` (within `subnet`), skipping the network,
/// broadcast and gateway addresses and every address in `used`.
pub fn allocate(
    subnet: &Subnet,
    range: &Subnet,
    gateway: Ipv4Addr,
    used: &BTreeSet<Ipv4Addr>,
) -> Result<Ipv4Addr> {
    let first = u32::from(range.network()).max(u32::from(subnet.network()) + 1);
    let last = u32::from(range.broadcast()).min(u32::from(subnet.broadcast()) - 1);
    (first..=last)
        .map(Ipv4Addr::from)
        .find(|ip| *ip != gateway && !used.contains(ip))
        .ok_or_else(|| Error::Exhausted(subnet.canonical().to_string()))
}

/// The IPv4 routes of the host's main table (`/proc/net/route`), as subnets.
pub fn host_routes() -> Vec<Subnet> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let destination = u32::from_str_radix(fields.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(fields.get(7)?, 16).ok()?;
            if mask == 0 {
                return None; // the default route overlaps everything; Docker ignores it too
            }
            Some(Subnet {
                // /proc/net/route prints the raw (network order) word as a host integer.
                address: Ipv4Addr::from(destination.to_ne_bytes()),
                prefix: mask.count_ones() as u8,
            })
        })
        .collect()
}

/// Docker's default pools for the default bridge: 172.17.0.0/16 … 172.31.0.0/16, then
/// 192.168.0.0/20 … 192.168.240.0/20. Returns the first that overlaps none of `taken`.
pub fn pick_default_subnet(taken: &[Subnet]) -> Result<Subnet> {
    let candidates = (17..=31)
        .map(|b| Subnet {
            address: Ipv4Addr::new(172, b, 0, 0),
            prefix: 16,
        })
        .chain((0..16).map(|n| Subnet {
            address: Ipv4Addr::new(192, 168, n * 16, 0),
            prefix: 20,
        }));
    for candidate in candidates {
        if !taken.iter().any(|t| t.overlaps(&candidate)) {
            return Ok(candidate);
        }
    }
    Err(Error::Conflict(
        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".into(),
    ))
}

/// A pool user-defined networks get their subnets from (daemon.json `default-address-pools`:
/// `{"base": "172.80.0.0/16", "size": 24}`): `base` is cut into subnets of prefix `size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressPool {
    pub base: Subnet,
    pub size: u8,
}

impl AddressPool {
    /// Checks that `size` can cut `base` (Docker's "invalid pools" cases).
    pub fn new(base: Subnet, size: u8) -> Result<AddressPool> {
        if size < base.prefix || size > 30 {
            return Err(Error::InvalidArgument(format!(
                "invalid pool: size {size} does not fit base {base}"
            )));
        }
        Ok(AddressPool {
            base: base.canonical(),
            size,
        })
    }

    /// Docker's defaults for user-defined networks: 172.17.0.0/16 … 172.31.0.0/16 as /16s,
    /// then 192.168.0.0/16 as /20s.
    pub fn defaults() -> Vec<AddressPool> {
        (17..=31)
            .map(|b| AddressPool {
                base: Subnet {
                    address: Ipv4Addr::new(172, b, 0, 0),
                    prefix: 16,
                },
                size: 16,
            })
            .chain(std::iter::once(AddressPool {
                base: Subnet {
                    address: Ipv4Addr::new(192, 168, 0, 0),
                    prefix: 16,
                },
                size: 20,
            }))
            .collect()
    }

    /// The subnets of this pool, lowest first.
    fn subnets(&self) -> impl Iterator<Item = Subnet> + '_ {
        let step = 1u64 << (32 - u32::from(self.size));
        let first = u64::from(u32::from(self.base.network()));
        let count = 1u64 << (u32::from(self.size) - u32::from(self.base.prefix));
        (0..count).filter_map(move |n| {
            let address = u32::try_from(first + n * step).ok()?;
            Some(Subnet {
                address: Ipv4Addr::from(address),
                prefix: self.size,
            })
        })
    }
}

/// The first subnet of `pools` (in order) that overlaps none of `taken`.
pub fn pick_from_pools(pools: &[AddressPool], taken: &[Subnet]) -> Result<Subnet> {
    pools
        .iter()
        .flat_map(|pool| pool.subnets())
        .find(|candidate| !taken.iter().any(|t| t.overlaps(candidate)))
        .ok_or_else(|| {
            Error::Conflict(
                "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".into(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_skip_taken_subnets() {
        let base: Subnet = "10.9.0.0/22".parse().unwrap_or_else(|e| panic!("{e}"));
        let pool = AddressPool::new(base, 24).unwrap_or_else(|e| panic!("{e}"));
        let taken: Subnet = "10.9.0.0/24".parse().unwrap_or_else(|e| panic!("{e}"));
        let got = pick_from_pools(&[pool], &[taken]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.to_string(), "10.9.1.0/24");
        let all: Vec<Subnet> = pool.subnets().collect();
        assert_eq!(all.len(), 4);
        assert!(pick_from_pools(&[pool], &[base]).is_err());
        assert!(AddressPool::new(base, 20).is_err());
        let defaults =
            pick_from_pools(&AddressPool::defaults(), &[taken]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(defaults.to_string(), "172.17.0.0/16");
    }

    #[test]
    fn parses_and_rejects_cidrs() {
        let s: Subnet = "10.1.2.3/24".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.network(), Ipv4Addr::new(10, 1, 2, 0));
        assert_eq!(s.broadcast(), Ipv4Addr::new(10, 1, 2, 255));
        assert!("10.1.2.3".parse::<Subnet>().is_err());
        assert!("10.1.2.300/24".parse::<Subnet>().is_err());
        assert!("10.1.2.0/33".parse::<Subnet>().is_err());
    }

    #[test]
    fn allocates_lowest_free_address() {
        let s: Subnet = "10.1.2.0/29".parse().unwrap_or_else(|e| panic!("{e}"));
        let gw = s.first_host();
        let mut used = BTreeSet::new();
        let a = allocate(&s, &s, gw, &used).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a, Ipv4Addr::new(10, 1, 2, 2));
        used.insert(a);
        for _ in 0..4 {
            let next = allocate(&s, &s, gw, &used).unwrap_or_else(|e| panic!("{e}"));
            used.insert(next);
        }
        assert!(matches!(
            allocate(&s, &s, gw, &used),
            Err(Error::Exhausted(_))
        ));
    }

    #[test]
    fn default_subnet_moves_off_taken_ranges() {
        let docker0: Subnet = "172.17.0.0/16".parse().unwrap_or_else(|e| panic!("{e}"));
        let picked = pick_default_subnet(&[docker0]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(picked.to_string(), "172.18.0.0/16");
        assert!(docker0.overlaps(&"172.17.5.0/24".parse().unwrap_or_else(|e| panic!("{e}"))));
    }
}
