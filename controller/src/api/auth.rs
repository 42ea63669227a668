//! Small helpers shared by the API's authentication checks.

/// Compares in constant time (for equal lengths), so that a wrong token's answer does
/// not tell how much of it was right.
pub(crate) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
