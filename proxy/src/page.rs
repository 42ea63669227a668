//! The page a path answers while its service has no Ready container: 503, not the 502
//! a proxy gives for a dead upstream, so that monitors and users can tell "not up yet"
//! from "broken".

/// The status.
pub const STATUS: u16 = 503;

/// `Retry-After`, in seconds.
pub const RETRY_AFTER: &str = "5";

/// The page for `service`.
pub fn unavailable(service: &str) -> String {
    let service: String = service
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    format!(
        "<!doctype html><title>503 Service Unavailable</title>\
         <h1>503 Service Unavailable</h1>\
         <p>{service} is starting or not ready yet. holdfast routes traffic to it as soon as it is ready.</p>\n"
    )
}
