//! Text that reaches the server's log from a client (the Log operation's message, certificate names, user
//! names, anything else a field carries) must not be able to forge log lines or drive a terminal: every control
//! character is written as an escape. `kmipd serve` formats every log field through [`escape_control`], so the
//! rule holds for fields added later too.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with each control character (newline, carriage return, escape, ... and the C1 range) written as
/// `\n`, `\r`, `\t` or `\u{..}`. Backslashes are left alone: a client may write a literal `\n`, but it
/// cannot start a new line or send a terminal escape.
pub fn escape_control(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_cannot_forge_a_line_or_an_escape_sequence() {
        assert!(matches!(escape_control("vcenter-01"), Cow::Borrowed(_)));
        let forged =
            "ok\n2026-01-01T00:00:00Z  INFO kmipd: client connected identity=admin\r\x1b[2K\u{85}";
        let escaped = escape_control(forged);
        assert!(!escaped.chars().any(char::is_control), "{escaped}");
        assert_eq!(
            escaped,
            "ok\\n2026-01-01T00:00:00Z  INFO kmipd: client connected identity=admin\\r\\u{1b}[2K\\u{85}"
        );
        assert_eq!(escape_control("a\\nb"), "a\\nb");
    }
}
