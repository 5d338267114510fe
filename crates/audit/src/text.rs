//! Characters a terminal acts on instead of showing, and their escaping.
//!
//! A terminal obeys what it is sent: ESC and CSI start control sequences
//! (colours, cursor moves, window titles, OSC 8 links, on some terminals
//! clipboard writes), C1 controls are their 8-bit forms, carriage returns
//! and newlines overwrite or forge lines, and bidirectional overrides
//! (Trojan Source, CVE-2021-42574) reorder what the reader sees. Audit
//! records hold strings that others chose (an agent id, a client id, a
//! `sub`), so a sealed record holds none of them raw
//! ([`ChainState::seal`](crate::chain::ChainState::seal)); the `passport`
//! CLI escapes every string it prints with the same rule.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether a terminal may act on `c` instead of showing it: C0 controls
/// (newline and tab included), DEL, C1 controls (U+0080–U+009F; U+009B is
/// CSI), the Unicode line and paragraph separators, and the bidirectional
/// formatting characters (marks, embeddings, overrides, isolates).
pub fn is_terminal_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// `s` with every [`is_terminal_control`] character, except those in
/// `keep`, written as `\uXXXX`. They all lie in the Basic Multilingual
/// Plane, so four hex digits always suffice, and inside a JSON string the
/// escape reads back as the same character.
pub fn escape_terminal_controls<'a>(s: &'a str, keep: &[char]) -> Cow<'a, str> {
    let unsafe_here = |c: char| is_terminal_control(c) && !keep.contains(&c);
    if !s.chars().any(unsafe_here) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if unsafe_here(c) {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}
