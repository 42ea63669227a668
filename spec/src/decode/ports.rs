//! `ports:` in the short (`"127.0.0.1:8080:80/tcp"`) and long forms.

use std::net::IpAddr;

use super::{Cx, Fields, Unsupported, choice};
use crate::diagnostic::Diagnostic;
use crate::model::{Port, Protocol};
use crate::yaml::{Node, Value};

/// The address a port binds to when the file names none. Docker's own default is every
/// interface; a published database port on a public address is the mistake this avoids.
pub const DEFAULT_HOST_IP: &str = "127.0.0.1";

/// At most this many ports may come from one range, so that `1-65535` cannot blow up.
const MAX_RANGE: u32 = 1024;

pub(crate) fn decode_ports(cx: &mut Cx<'_>, service: &str, node: &Node) -> Vec<Port> {
    let Value::Seq(items) = &node.value else {
        cx.expected(
            node,
            "a list of ports",
            Some("write `ports: [\"8080:80\"]`"),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let ports = match &item.value {
            Value::Map(_) => long_form(cx, service, item).map(|p| vec![p]),
            Value::Scalar { .. } => {
                let Some(text) = cx.string(item, "a port") else {
                    continue;
                };
                match short_form(&text) {
                    Ok(ports) => Some(ports),
                    Err((message, help)) => {
                        cx.error(
                            Diagnostic::error(item.span, message)
                                .with_label("invalid port")
                                .with_help(help),
                        );
                        None
                    }
                }
            }
            _ => {
                cx.expected(item, "a port like \"8080:80\" or a mapping", None);
                None
            }
        };
        for port in ports.unwrap_or_default() {
            cx.map
                .ports
                .push((service.to_string(), port.clone(), item.span));
            out.push(port);
        }
    }
    out
}

/// `expose:`: container ports, as `3000`, `"3000"`, `"3000/tcp"` or `"3000-3005"`.
/// The protocol is accepted and not kept: routes only need the port numbers.
pub(crate) fn decode_expose(cx: &mut Cx<'_>, node: &Node) -> Vec<u16> {
    let Value::Seq(items) = &node.value else {
        cx.expected(
            node,
            "a list of container ports",
            Some("write `expose: [3000]`"),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let Some(text) = cx.string(item, "a container port") else {
            continue;
        };
        let spec = match text.rsplit_once('/') {
            Some((spec, "tcp" | "udp")) => Ok(spec),
            Some((_, other)) => Err(format!("unknown protocol `{other}` (use tcp or udp)")),
            None => Ok(text.as_str()),
        };
        match spec.and_then(range) {
            Ok((a, b)) => out.extend(a..=b),
            Err(why) => cx.error(
                Diagnostic::error(item.span, format!("`{text}` is not a valid exposed port: {why}"))
                    .with_label("invalid port")
                    .with_help("write a container port such as `3000`, `\"3000/tcp\"` or a range `\"3000-3005\"`"),
            ),
        }
    }
    out
}

type PortError = (String, String);

const SHORT_HELP: &str =
    "write \"[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/tcp|/udp]\", such as \"127.0.0.1:8080:80\"";

/// Parses `[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]`, where ports may be ranges.
pub(crate) fn short_form(text: &str) -> Result<Vec<Port>, PortError> {
    let bad = |why: &str| {
        (
            format!("`{text}` is not a valid port: {why}"),
            SHORT_HELP.to_string(),
        )
    };
    let (spec, protocol) = match text.rsplit_once('/') {
        Some((spec, "tcp")) => (spec, Protocol::Tcp),
        Some((spec, "udp")) => (spec, Protocol::Udp),
        Some((_, other)) => {
            return Err(bad(&format!("unknown protocol `{other}` (use tcp or udp)")));
        }
        None => (text, Protocol::Tcp),
    };
    let (host_ip, rest) = if let Some(after) = spec.strip_prefix('[') {
        let (ip, rest) = after
            .split_once("]:")
            .ok_or_else(|| bad("an IPv6 address in brackets must be followed by `:`"))?;
        (Some(ip.to_string()), rest)
    } else {
        match spec.matches(':').count() {
            0 | 1 => (None, spec),
            2 => {
                let (ip, rest) = spec.split_once(':').ok_or_else(|| bad("too many `:`"))?;
                // `:80:80`: an explicitly empty host address is every interface, as in
                // Compose.
                let ip = if ip.is_empty() { "0.0.0.0" } else { ip };
                (Some(ip.to_string()), rest)
            }
            _ => {
                return Err(bad(
                    "too many `:`; write an IPv6 address in brackets, like [::1]:8080:80",
                ));
            }
        }
    };
    if let Some(ip) = &host_ip
        && ip.parse::<IpAddr>().is_err()
    {
        return Err(bad(&format!("`{ip}` is not an IP address")));
    }
    let (published, target) = match rest.split_once(':') {
        Some((p, t)) => (
            if p.is_empty() {
                None
            } else {
                Some(range(p).map_err(|w| bad(&w))?)
            },
            range(t).map_err(|w| bad(&w))?,
        ),
        None => (None, range(rest).map_err(|w| bad(&w))?),
    };
    if let Some(p) = published
        && p.1 - p.0 != target.1 - target.0
    {
        return Err(bad(
            "the host range and the container range differ in length",
        ));
    }
    let host_ip = host_ip.unwrap_or_else(|| DEFAULT_HOST_IP.to_string());
    Ok((0..=(target.1 - target.0))
        .map(|i| Port {
            target: target.0 + i,
            published: published.map(|p| p.0 + i),
            host_ip: host_ip.clone(),
            protocol,
        })
        .collect())
}

fn range(text: &str) -> Result<(u16, u16), String> {
    let one = |t: &str| -> Result<u16, String> {
        match t.parse::<u16>() {
            Ok(0) => Err("port 0 is not allowed".into()),
            Ok(n) => Ok(n),
            Err(_) => Err(format!("`{t}` is not a port number (1-65535)")),
        }
    };
    match text.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (one(a)?, one(b)?);
            if b < a {
                return Err(format!("the range {a}-{b} runs backwards"));
            }
            if u32::from(b - a) >= MAX_RANGE {
                return Err(format!("a range may hold at most {MAX_RANGE} ports"));
            }
            Ok((a, b))
        }
        None => one(text).map(|p| (p, p)),
    }
}

fn long_form(cx: &mut Cx<'_>, service: &str, node: &Node) -> Option<Port> {
    let mut f = Fields::new(cx, node, format!("a port of service `{service}`"))?;
    let target = f
        .get("target")
        .and_then(|n| cx.number::<u16>(n, "a port number", 1, 65535));
    let published = match f.get("published") {
        Some(n) => Some(cx.number::<u16>(n, "a port number", 1, 65535)?),
        None => None,
    };
    let host_ip = match f.get("host_ip") {
        Some(n) => {
            let ip = cx.string(n, "an IP address")?;
            if ip.parse::<IpAddr>().is_err() {
                cx.error(
                    Diagnostic::error(n.span, format!("`{ip}` is not an IP address"))
                        .with_help("write an address such as 127.0.0.1 or 0.0.0.0"),
                );
                return None;
            }
            ip
        }
        None => DEFAULT_HOST_IP.to_string(),
    };
    let protocol = match f.get("protocol") {
        Some(n) => match choice(cx, n, "protocol", &["tcp", "udp"])? {
            "udp" => Protocol::Udp,
            _ => Protocol::Tcp,
        },
        None => Protocol::Tcp,
    };
    if let Some(n) = f.get("mode") {
        choice(cx, n, "port mode", &["host"])?;
    }
    f.finish(
        cx,
        &[
            Unsupported {
                field: "name",
                help: "remove it",
            },
            Unsupported {
                field: "app_protocol",
                help: "remove it",
            },
        ],
    );
    let Some(target) = target else {
        if node.get("target").is_none() {
            cx.error(
                Diagnostic::error(
                    node.span,
                    "a port needs `target`, the port inside the container",
                )
                .with_help("write `target: 80`"),
            );
        }
        return None;
    };
    Some(Port {
        target,
        published,
        host_ip,
        protocol,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_forms() {
        let p = short_form("8080:80").unwrap();
        assert_eq!(
            p,
            vec![Port {
                target: 80,
                published: Some(8080),
                host_ip: "127.0.0.1".into(),
                protocol: Protocol::Tcp
            }]
        );
        let p = short_form("0.0.0.0:443:443/udp").unwrap();
        assert_eq!(
            (p[0].host_ip.as_str(), p[0].protocol),
            ("0.0.0.0", Protocol::Udp)
        );
        let p = short_form("[::1]:53:53").unwrap();
        assert_eq!(p[0].host_ip, "::1");
        let p = short_form("3000").unwrap();
        assert_eq!((p[0].target, p[0].published), (3000, None));
        let p = short_form("127.0.0.1::80").unwrap();
        assert_eq!((p[0].target, p[0].published), (80, None));
        let p = short_form("9000-9002:8000-8002").unwrap();
        assert_eq!(
            p.iter()
                .map(|p| (p.published, p.target))
                .collect::<Vec<_>>(),
            vec![(Some(9000), 8000), (Some(9001), 8001), (Some(9002), 8002)]
        );
        for bad in [
            "",
            "abc",
            "0",
            "70000",
            "1:2:3:4",
            "8080:80/sctp",
            "localhost:80:80",
            "10-5",
            "1-2000",
            "1-3:1-2",
        ] {
            assert!(short_form(bad).is_err(), "{bad}");
        }
    }
}
