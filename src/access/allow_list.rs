//! The network allow-list: addresses and CIDR blocks a connection may come from, checked in the accept loop
//! before any TLS byte is exchanged. The embedded default allows loopback only.

use std::net::IpAddr;

use thiserror::Error;

/// One entry: a network address and the number of leading bits that must match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    network: IpAddr,
    prefix: u8,
}

/// Why an allow-list entry could not be read.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("`{entry}` is not an address or CIDR block: {reason}")]
pub struct AllowListError {
    entry: String,
    reason: &'static str,
}

impl Block {
    /// Reads `10.0.0.0/8`, `::1`, `192.168.1.7` or `fd00::/8`.
    pub fn parse(entry: &str) -> Result<Block, AllowListError> {
        let bad = |reason| AllowListError {
            entry: entry.to_string(),
            reason,
        };
        let (address, prefix) = match entry.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (entry.trim(), None),
        };
        let network: IpAddr = address.parse().map_err(|_| bad("bad address"))?;
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => p.parse::<u8>().map_err(|_| bad("bad prefix length"))?,
        };
        if prefix > width {
            return Err(bad("prefix length longer than the address"));
        }
        Ok(Block { network, prefix })
    }

    /// Whether `address` lies in the block (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, address) {
            (IpAddr::V4(n), IpAddr::V4(a)) => matches_prefix(
                u128::from(u32::from(n)),
                u128::from(u32::from(a)),
                32,
                self.prefix,
            ),
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                matches_prefix(u128::from(n), u128::from(a), 128, self.prefix)
            }
            _ => false,
        }
    }
}

/// Whether the top `prefix` bits of `width`-bit values `a` and `b` agree.
fn matches_prefix(a: u128, b: u128, width: u32, prefix: u8) -> bool {
    let prefix = u32::from(prefix);
    if prefix == 0 {
        return true;
    }
    let shift = width.saturating_sub(prefix);
    a.checked_shr(shift) == b.checked_shr(shift)
}

/// The addresses connections are accepted from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowList {
    blocks: Vec<Block>,
}

/// The embedded default: loopback only.
pub const DEFAULT_ALLOW: [&str; 2] = ["127.0.0.0/8", "::1"];

impl AllowList {
    /// Reads every entry; an empty list allows nothing.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<AllowList, AllowListError> {
        let blocks = entries
            .iter()
            .map(|e| Block::parse(e.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(AllowList { blocks })
    }

    /// Loopback only.
    pub fn loopback() -> AllowList {
        AllowList {
            blocks: DEFAULT_ALLOW
                .iter()
                .filter_map(|e| Block::parse(e).ok())
                .collect(),
        }
    }

    /// Whether a connection from `address` may proceed to the handshake.
    pub fn permits(&self, address: IpAddr) -> bool {
        self.blocks.iter().any(|b| b.contains(address))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_match_their_prefix() {
        let list =
            AllowList::parse(&["10.0.0.0/8", "192.168.1.7", "fd00::/8", "0.0.0.0/0"][..3]).unwrap();
        assert!(list.permits(ip("10.200.3.4")));
        assert!(!list.permits(ip("11.0.0.1")));
        assert!(list.permits(ip("192.168.1.7")));
        assert!(!list.permits(ip("192.168.1.8")));
        assert!(list.permits(ip("fd12::1")));
        assert!(!list.permits(ip("fe80::1")));
        assert!(list.permits(ip("::ffff:10.1.1.1")));
        let all = AllowList::parse(&["0.0.0.0/0"]).unwrap();
        assert!(all.permits(ip("8.8.8.8")));
        assert!(!all.permits(ip("2001:db8::1")));
    }

    #[test]
    fn the_default_is_loopback_only() {
        let list = AllowList::loopback();
        assert!(list.permits(ip("127.0.0.1")));
        assert!(list.permits(ip("127.1.2.3")));
        assert!(list.permits(ip("::1")));
        assert!(!list.permits(ip("192.168.0.1")));
        assert!(
            !AllowList::parse::<&str>(&[])
                .unwrap()
                .permits(ip("127.0.0.1"))
        );
    }

    #[test]
    fn bad_entries_are_refused() {
        for bad in ["10.0.0.0/33", "::/129", "localhost", "10.0.0.0/x", ""] {
            assert!(Block::parse(bad).is_err(), "{bad}");
        }
    }
}
