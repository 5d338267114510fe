//! Escaping for the terminal: every string that comes from a token, a
//! provider or a file goes through [`escape`] (a field in text output) or
//! [`json`] (a JSON document) before it is printed.
//!
//! A terminal obeys what it is sent: ESC and CSI start control sequences
//! (colours, cursor moves, window titles, OSC 8 links, on some terminals
//! clipboard writes), C1 controls are their 8-bit forms, carriage returns
//! and newlines overwrite or forge lines, and bidirectional overrides
//! (Trojan Source, CVE-2021-42574) reorder what the reader sees. None of
//! them belongs in a `sub`, an agent id or an error description, so each is
//! shown as a visible `\uXXXX` escape instead. The characters and their
//! escaping are passport-audit's ([`passport_audit::text`]), which seals
//! audit records with the same rule.

use std::borrow::Cow;

use passport_audit::text::escape_terminal_controls as escape_except;

/// A field for text output: every control character (including newline,
/// carriage return and tab), C1 control and bidi override becomes a visible
/// `\uXXXX`, so one field stays on one line and cannot drive the terminal.
pub(crate) fn escape(s: &str) -> Cow<'_, str> {
    escape_except(s, &[])
}

/// A JSON value pretty-printed (`pretty`) or compact, safe for a terminal
/// and still the same JSON: serde_json already escapes C0 controls inside
/// strings, so every raw newline left is layout; C1 controls and bidi
/// overrides (which can only occur inside strings) become `\uXXXX`, which
/// JSON reads back as the same character.
pub(crate) fn json(value: &serde_json::Value, pretty: bool) -> String {
    let text = if pretty {
        format!("{value:#}")
    } else {
        value.to_string()
    };
    escape_except(&text, &['\n']).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use passport_audit::text::is_terminal_control as is_unsafe;
    use serde_json::json;

    /// ESC, CSI, OSC 8, CR, NL, TAB, DEL, C1 CSI (U+009B), RLO, LRI, PDI, ALM, LS.
    const HOSTILE: &str = "a\u{1b}[31mred\u{1b}]8;;https://evil\u{7}x\r\n\tb\u{7f}\u{9b}2J\u{202e}cod.exe\u{2066}\u{2069}\u{61c}\u{2028}z";

    #[test]
    fn every_unsafe_character_becomes_visible() {
        let shown = escape(HOSTILE);
        assert_eq!(
            shown,
            "a\\u001b[31mred\\u001b]8;;https://evil\\u0007x\\u000d\\u000a\\u0009b\\u007f\\u009b2J\\u202ecod.exe\\u2066\\u2069\\u061c\\u2028z"
        );
        assert!(!shown.chars().any(is_unsafe));
    }

    #[test]
    fn ordinary_text_is_borrowed_unchanged() {
        for s in [
            "alice",
            "files:read",
            "José — ✓ 名前",
            "https://x.example/a?b=c",
        ] {
            assert!(matches!(escape(s), Cow::Borrowed(t) if t == s));
        }
    }

    #[test]
    fn json_output_is_safe_and_reads_back_the_same() {
        let value = json!({"sub": HOSTILE, "list": [HOSTILE, 1]});
        for pretty in [true, false] {
            let text = json(&value, pretty);
            assert!(!text.chars().any(|c| is_unsafe(c) && c != '\n'), "{text}");
            let back: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(back, value);
        }
        assert!(!json(&value, false).contains('\n'));
    }
}
