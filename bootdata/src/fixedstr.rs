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

#[cfg(test)]
mod tests {
    use super::truncated;

    #[test]
    fn cuts_at_a_whole_character() {
        assert_eq!(truncated::<4>("abcdef").as_str(), "abcd");
        assert_eq!(truncated::<4>("ab").as_str(), "ab");
        // 'é' is two bytes: "aé" is 3 bytes, "aéé" would be 5.
        assert_eq!(truncated::<4>("aéé").as_str(), "aé");
        assert_eq!(truncated::<0>("x").as_str(), "");
    }
}
