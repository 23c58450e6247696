//! Cutting text to a size: user text quoted in a message, and a message cut to a
//! byte budget (a termination message, an Event note). Never inside a character.

/// User-provided text shortened to `max_chars` characters (with `…` when cut), so a
/// message that quotes it stays readable and bounded.
pub fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_string()
    } else {
        let mut short: String = text.chars().take(max_chars).collect();
        short.push('…');
        short
    }
}

/// The longest prefix of `text` of at most `max_bytes` bytes that ends on a character
/// boundary.
pub fn cut_to_bytes(text: &str, max_bytes: usize) -> &str {
    let mut end = text.len().min(max_bytes);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Cuts `text` in place to at most `max_bytes` bytes plus `…`, when it is longer.
pub fn cut_with_ellipsis(text: &mut String, max_bytes: usize) {
    if text.len() > max_bytes {
        let end = cut_to_bytes(text, max_bytes).len();
        text.truncate(end);
        text.push('…');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_never_split_a_character() {
        assert_eq!(shorten("abcdef", 3), "abc…");
        assert_eq!(shorten("é", 3), "é");
        assert_eq!(cut_to_bytes("aé", 2), "a");
        assert_eq!(cut_to_bytes("aé", 3), "aé");
        let mut text = "ééé".to_string();
        cut_with_ellipsis(&mut text, 3);
        assert_eq!(text, "é…");
        let mut short = "ab".to_string();
        cut_with_ellipsis(&mut short, 3);
        assert_eq!(short, "ab");
    }
}
