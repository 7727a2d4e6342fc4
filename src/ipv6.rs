//! IPv6 CIDR arithmetic: parsing, containment and `cidrsubnet`-style carving of
//! a subnet's /64 out of the VPC's block.
//!
//! Kept dependency-free on purpose: the only operations a migration needs are
//! "is this a valid network", "is it inside that one" and "the n-th /64".

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

/// An IPv6 network: address with host bits zero, and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv6Net {
    addr: u128,
    prefix: u8,
}

/// Why a string is not an IPv6 network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("`{0}` is not an IPv6 CIDR (expected something like 2406:da14:abc:de00::/64)")]
    Syntax(String),
    #[error("`{0}` has host bits set; did you mean {1}?")]
    HostBits(String, Ipv6Net),
}

impl Ipv6Net {
    /// The default route, `::/0`.
    pub const ANY: Ipv6Net = Ipv6Net { addr: 0, prefix: 0 };

    pub fn new(addr: Ipv6Addr, prefix: u8) -> Option<Ipv6Net> {
        if prefix > 128 {
            return None;
        }
        let addr = u128::from(addr) & Self::mask(prefix);
        Some(Ipv6Net { addr, prefix })
    }

    fn mask(prefix: u8) -> u128 {
        if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) }
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn network(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.addr)
    }

    /// Whether `other` lies entirely inside `self`.
    pub fn contains_net(&self, other: &Ipv6Net) -> bool {
        other.prefix >= self.prefix && (other.addr & Self::mask(self.prefix)) == self.addr
    }

    pub fn contains_addr(&self, addr: Ipv6Addr) -> bool {
        (u128::from(addr) & Self::mask(self.prefix)) == self.addr
    }

    /// How many networks of length `new_prefix` fit in `self`, or `None` when
    /// `new_prefix` is not longer than ours.
    pub fn subnet_count(&self, new_prefix: u8) -> Option<u128> {
        if new_prefix <= self.prefix || new_prefix > 128 {
            return None;
        }
        let bits = u32::from(new_prefix - self.prefix);
        Some(if bits >= 128 { u128::MAX } else { 1u128 << bits })
    }

    /// Terraform's `cidrsubnet(self, new_prefix - prefix, index)`: the
    /// `index`-th network of length `new_prefix` inside `self`.
    pub fn subnet(&self, new_prefix: u8, index: u128) -> Option<Ipv6Net> {
        let count = self.subnet_count(new_prefix)?;
        if index >= count {
            return None;
        }
        let addr = self.addr | (index << (128 - u32::from(new_prefix)));
        Some(Ipv6Net { addr, prefix: new_prefix })
    }

    /// The inverse of [`Ipv6Net::subnet`]: which index `inner` has inside `self`.
    pub fn index_of(&self, inner: &Ipv6Net) -> Option<u128> {
        if !self.contains_net(inner) || inner.prefix == self.prefix {
            return None;
        }
        Some((inner.addr ^ self.addr) >> (128 - u32::from(inner.prefix)))
    }
}

impl FromStr for Ipv6Net {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || CidrError::Syntax(s.to_string());
        let (addr, prefix) = s.split_once('/').ok_or_else(syntax)?;
        let addr: Ipv6Addr = addr.parse().map_err(|_| syntax())?;
        let prefix: u8 = prefix.parse().map_err(|_| syntax())?;
        let net = Ipv6Net::new(addr, prefix).ok_or_else(syntax)?;
        if u128::from(addr) != net.addr {
            return Err(CidrError::HostBits(s.to_string(), net));
        }
        Ok(net)
    }
}

impl fmt::Display for Ipv6Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv6Addr::from(self.addr), self.prefix)
    }
}

impl serde::Serialize for Ipv6Net {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Ipv6Net {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carves_the_nth_64_like_terraform_cidrsubnet() {
        let vpc: Ipv6Net = "2406:da14:abc:de00::/56".parse().unwrap();
        assert_eq!(vpc.subnet(64, 1).unwrap().to_string(), "2406:da14:abc:de01::/64");
        assert_eq!(vpc.subnet(64, 255).unwrap().to_string(), "2406:da14:abc:deff::/64");
        assert_eq!(vpc.subnet(64, 256), None);
        let sub = vpc.subnet(64, 2).unwrap();
        assert_eq!(vpc.index_of(&sub), Some(2));
        assert!(vpc.contains_net(&sub));
    }

    #[test]
    fn rejects_host_bits_and_garbage() {
        assert!(matches!("2406:da14::1/64".parse::<Ipv6Net>(), Err(CidrError::HostBits(..))));
        assert!(matches!("10.0.0.0/8".parse::<Ipv6Net>(), Err(CidrError::Syntax(..))));
        assert!(matches!("::/129".parse::<Ipv6Net>(), Err(CidrError::Syntax(..))));
        assert_eq!("::/0".parse::<Ipv6Net>().unwrap(), Ipv6Net::ANY);
    }
}
