//! Text from unauthenticated requests (the slug in a path, the id and type an
//! unverified body claims), made safe to store and to log (CONTRACT §10): at most
//! `MAX_BYTES`, and every control character escaped, so that it can neither forge a
//! log line nor fill a disk, and PostgreSQL takes it (no NUL).

use std::fmt::Write;

/// Whether `text` holds a control character (NUL, a line break, an escape…): refused
/// in the names, references and reasons people type, which are shown and stored as
/// they are (PostgreSQL refuses NUL in text).
pub fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// How much of an untrusted text is kept.
pub const MAX_BYTES: usize = 200;

/// `text` cut to `MAX_BYTES` (on a character boundary, `…` marking the cut), control
/// characters written as `\n`, `\r`, `\t` or `\u{…}`.
pub fn cut(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_BYTES + 8));
    for c in text.chars() {
        let before = out.len();
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
        if out.len() > MAX_BYTES {
            out.truncate(before);
            out.push('…');
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_and_control_characters_escaped() {
        assert_eq!(cut("resto-1"), "resto-1");
        assert_eq!(cut("a\nb\r\tc"), "a\\nb\\r\\tc");
        assert_eq!(cut("evt_\0x\u{1b}[31m"), "evt_\\u{0}x\\u{1b}[31m");
        let long = "é".repeat(60_000);
        let kept = cut(&long);
        assert!(kept.len() <= MAX_BYTES + '…'.len_utf8(), "{}", kept.len());
        assert!(kept.ends_with('…'));
        assert!(kept.starts_with("éé"));
        assert!(!cut(&"\n".repeat(500)).contains('\n'));
    }
}
