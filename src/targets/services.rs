//! The services a scan probes: one port set per protocol, indexed TCP first.

use super::ports::PortSet;
use crate::model::{Protocol, Service};

/// The (protocol, port) pairs of a scan, held as one port set per protocol. Their index
/// order is [`Service`]'s: TCP ports ascending, then UDP ports ascending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceSet {
    /// TCP ports.
    pub tcp: PortSet,
    /// UDP ports.
    pub udp: PortSet,
}

impl ServiceSet {
    /// The TCP ports `ports` and nothing else.
    pub fn tcp(ports: PortSet) -> ServiceSet {
        ServiceSet {
            tcp: ports,
            udp: PortSet::new(),
        }
    }

    /// The ports of `protocol` (empty for one the scan cannot probe).
    pub fn ports(&self, protocol: Protocol) -> &PortSet {
        static NONE: std::sync::OnceLock<PortSet> = std::sync::OnceLock::new();
        match protocol {
            Protocol::Tcp => &self.tcp,
            Protocol::Udp => &self.udp,
            Protocol::Sctp => NONE.get_or_init(PortSet::new),
        }
    }

    /// The protocols with ports, in index order, with their ports.
    pub fn by_protocol(&self) -> impl Iterator<Item = (Protocol, &PortSet)> + '_ {
        [Protocol::Tcp, Protocol::Udp]
            .into_iter()
            .map(|p| (p, self.ports(p)))
            .filter(|(_, set)| !set.is_empty())
    }

    /// Number of services.
    pub fn len(&self) -> u64 {
        self.tcp.len() + self.udp.len()
    }

    /// True when there is nothing to probe.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when `service` is one of the set.
    pub fn contains(&self, service: Service) -> bool {
        self.ports(service.protocol).contains(service.port)
    }

    /// Every service in index order.
    pub fn iter(&self) -> impl Iterator<Item = Service> + '_ {
        self.by_protocol()
            .flat_map(|(protocol, set)| set.iter().map(move |port| Service { protocol, port }))
    }
}

impl From<super::ServicePorts> for ServiceSet {
    /// The ports `-p` gave each protocol.
    fn from(p: super::ServicePorts) -> ServiceSet {
        ServiceSet {
            tcp: p.tcp,
            udp: p.udp,
        }
    }
}

impl From<PortSet> for ServiceSet {
    /// The TCP ports of the set.
    fn from(ports: PortSet) -> ServiceSet {
        ServiceSet::tcp(ports)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_order_is_tcp_then_udp_ascending() {
        let s = ServiceSet {
            tcp: PortSet::from_ranges([(80, 80), (22, 22)]),
            udp: PortSet::from_ranges([(53, 53), (161, 162)]),
        };
        let all: Vec<Service> = s.iter().collect();
        assert_eq!(
            all,
            vec![
                Service::tcp(22),
                Service::tcp(80),
                Service::udp(53),
                Service::udp(161),
                Service::udp(162)
            ]
        );
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(all, sorted);
        assert_eq!(s.len(), 5);
        assert!(s.contains(Service::udp(53)) && !s.contains(Service::tcp(53)));
        assert!(!s.contains(Service {
            protocol: Protocol::Sctp,
            port: 80
        }));
        let only = ServiceSet::tcp(PortSet::from_ranges([(1, 3)]));
        let protocols: Vec<Protocol> = only.by_protocol().map(|(p, _)| p).collect();
        assert_eq!(protocols, vec![Protocol::Tcp]);
    }
}
