//! Fixed-capacity strings for data kept before (or without) the heap.

use heapless::String;

/// `s` copied into a `String<N>`, cut at the last whole character that fits.
pub fn truncated<const N: usize>(s: &str) -> String<N> {
    let mut out = String::new();
    for c in s.chars() {
        if out.push(c).is_err() {
            break;
        }
    }
    out
}
