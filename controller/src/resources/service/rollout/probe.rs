//! The health probe a new container must pass before a route switches to it: `GET
//! <health.path>` on the 127.0.0.1 address the proxy will use, so what passes is what
//! the proxy will reach.

use std::time::Duration;

use holdfast_proxy::http::{Endpoint, request};

/// One probe of `address` (`127.0.0.1:PORT`): `Ok` on a 2xx answer within `timeout`,
/// otherwise why not (`connection refused`, `answered 503`, `no answer within 2000
/// ms`).
pub async fn probe(address: &str, path: &str, timeout: Duration) -> Result<(), String> {
    let endpoint = Endpoint::Tcp(address.to_string());
    match request(&endpoint, hyper::Method::GET, path, &[], None, timeout).await {
        Ok(r) if (200..300).contains(&r.status) => Ok(()),
        Ok(r) => Err(format!("GET {path} on {address} answered {}", r.status)),
        Err(e) => Err(format!("GET {path} on {address}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A one-shot server on loopback that answers `status`.
    fn answer(status: u16) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = write!(
                    s,
                    "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        address
    }

    #[tokio::test]
    async fn probes_say_what_failed() {
        assert_eq!(
            probe(&answer(204), "/up", Duration::from_secs(2)).await,
            Ok(())
        );
        let e = probe(&answer(503), "/up", Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(e.ends_with("answered 503"), "{e}");
        // A port nothing listens on.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        };
        let e = probe(&closed, "/", Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(e.to_lowercase().contains("refused"), "{e}");
    }
}
