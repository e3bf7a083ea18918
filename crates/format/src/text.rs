//! Text from signed artifacts, made safe to print: a signature proves who wrote a string, not
//! that it is harmless on an operator's terminal (escape sequences, bidirectional overrides).

use std::borrow::Cow;

/// Whether `c` must never be printed raw: control characters (C0, DEL, C1), line and paragraph
/// separators, and bidirectional formatting characters.
pub fn is_unprintable(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
        )
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// The first character of `s` that [`is_unprintable`], if any.
pub fn first_unprintable(s: &str) -> Option<char> {
    s.chars().find(|&c| is_unprintable(c))
}

/// `s` with every unprintable character written as `\u{XXXX}` (and `\\` doubled, so the
/// form is unambiguous). Borrowed when nothing needed escaping.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| is_unprintable(c) || c == '\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c == '\\' {
            out.push_str("\\\\");
        } else if is_unprintable(c) {
            out.push_str(&format!("\\u{{{:04X}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_controls_and_bidi() {
        assert_eq!(escape("ACME"), "ACME");
        assert_eq!(escape("a\x1b[31mred"), "a\\u{001B}[31mred");
        assert_eq!(escape("x\u{202E}y"), "x\\u{202E}y");
        assert_eq!(escape("a\\b"), "a\\\\b");
        assert_eq!(escape("\u{9b}"), "\\u{009B}");
        assert_eq!(first_unprintable("Müller GmbH"), None);
        assert_eq!(first_unprintable("tab\there"), Some('\t'));
    }
}
