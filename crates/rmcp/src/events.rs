//! SSE event ids bound to the agent they were sent to.
//!
//! A client that lost an event stream resumes it with `Last-Event-ID`, and
//! rmcp replays what follows that event. With an `EventStore` configured,
//! rmcp finds the events by that id alone, whichever session or agent asks
//! (also without any session, for a request of MCP's stateless protocol).
//! So the layer binds each id it sends to the receiving agent: on the way
//! out, every `id:` field of an event stream gets a suffix, `.<tag>`, the
//! first 128 bits of an HMAC-SHA-256 over the agent (its issuer, principal
//! and `agent_id`) and the id, under a key drawn when the layer is made;
//! on the way in, a `Last-Event-ID` must carry the tag of the agent that
//! sends it, and reaches rmcp without it. Another agent's id, an id with
//! its tag cut off or one made up is refused before rmcp sees it.

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use axum::body::Bytes;

use crate::sessions::Owner;

/// The bytes of a tag (before base64url: 22 characters).
const TAG_BYTES: usize = 16;

/// The longest `id:` line rewritten; a longer one passes unchanged, and a
/// resume with it is refused (it carries no tag).
const MAX_ID_LINE: usize = 1024;

/// The key that tags event ids for one layer.
#[derive(Clone)]
pub(crate) struct EventIds {
    /// `None` when no key could be drawn: ids pass untagged and every
    /// resume is refused (fail closed).
    key: Option<hmac::Key>,
}

impl std::fmt::Debug for EventIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventIds").finish_non_exhaustive()
    }
}

impl EventIds {
    /// A fresh random key.
    pub(crate) fn new() -> EventIds {
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &SystemRandom::new()).ok();
        if key.is_none() {
            tracing::error!(
                "no key could be drawn for MCP event ids: no event stream can be resumed through this layer"
            );
        }
        EventIds { key }
    }

    fn mac(&self, owner: &[u8], id: &[u8]) -> Option<hmac::Tag> {
        let key = self.key.as_ref()?;
        let mut context = hmac::Context::with_key(key);
        context.update(owner);
        context.update(id);
        Some(context.sign())
    }

    /// `id` with the tag of `owner` (the owner's encoded bytes) appended.
    fn tagged(&self, owner: &[u8], id: &[u8]) -> Option<Vec<u8>> {
        let tag = self.mac(owner, id)?;
        let tag = passport_jose::b64::encode(&tag.as_ref()[..TAG_BYTES]);
        let mut out = Vec::with_capacity(id.len() + 1 + tag.len());
        out.extend_from_slice(id);
        out.push(b'.');
        out.extend_from_slice(tag.as_bytes());
        Some(out)
    }

    /// The id rmcp gave, when `presented` carries `owner`'s tag; `None`
    /// otherwise (another agent's, untagged, made up).
    pub(crate) fn untagged<'a>(&self, owner: &Owner, presented: &'a str) -> Option<&'a str> {
        let (id, tag) = presented.rsplit_once('.')?;
        let mut given = [0u8; TAG_BYTES];
        if passport_jose::b64::decode_into(tag, &mut given) != Some(TAG_BYTES) {
            return None;
        }
        let expected = self.mac(&owner.encoded(), id.as_bytes())?;
        aws_lc_rs::constant_time::verify_slices_are_equal(&expected.as_ref()[..TAG_BYTES], &given)
            .ok()?;
        Some(id)
    }

    /// A rewriter for one event stream sent to `owner`.
    pub(crate) fn rewriter(&self, owner: &Owner) -> Rewriter {
        Rewriter {
            ids: self.clone(),
            owner: owner.encoded(),
            line: Line::Candidate(Vec::new()),
            after_cr: false,
        }
    }
}

/// Where the rewriter is in the current line of the stream.
enum Line {
    /// The line so far (held back): a prefix of `id:`, or an `id:` line.
    Candidate(Vec<u8>),
    /// Another field (or a line too long to be rewritten): passed on.
    Other,
}

/// Tags the `id:` fields of an SSE stream (the WHATWG event stream format:
/// lines end in CR LF, LF or CR; a field is `name:value`, with one space
/// after the colon dropped), frame by frame: a line split across frames is
/// held back only while it may be an `id:` line. Such a line still open
/// when the stream ends is not sent: an SSE client discards an
/// unterminated last line anyway. An id that begins with a space after
/// the dropped one cannot be resumed (HTTP trims the header value, and the
/// tag no longer matches): refused, never widened; rmcp's ids have none.
pub(crate) struct Rewriter {
    ids: EventIds,
    owner: Vec<u8>,
    line: Line,
    /// The last byte seen was a CR: an LF next belongs to that line end.
    after_cr: bool,
}

impl Rewriter {
    /// The bytes to send for the next frame of the stream.
    pub(crate) fn feed(&mut self, data: &[u8]) -> Bytes {
        let mut out = Vec::with_capacity(data.len() + 32);
        let mut rest = data;
        while let Some((&byte, tail)) = rest.split_first() {
            if std::mem::take(&mut self.after_cr) && byte == b'\n' {
                out.push(byte);
                rest = tail;
                continue;
            }
            if byte == b'\r' || byte == b'\n' {
                self.end_line(&mut out);
                out.push(byte);
                self.after_cr = byte == b'\r';
                rest = tail;
                continue;
            }
            match &mut self.line {
                Line::Other => {
                    // the rest of this line, at once
                    let end = rest
                        .iter()
                        .position(|b| *b == b'\r' || *b == b'\n')
                        .unwrap_or(rest.len());
                    out.extend_from_slice(&rest[..end]);
                    rest = &rest[end..];
                }
                Line::Candidate(held) => {
                    held.push(byte);
                    rest = tail;
                    let undecided = held.len() < 3 && b"id:".starts_with(held);
                    let is_id = held.starts_with(b"id:") && held.len() <= MAX_ID_LINE;
                    if !undecided && !is_id {
                        out.extend_from_slice(held);
                        self.line = Line::Other;
                    }
                }
            }
        }
        Bytes::from(out)
    }

    /// At a line end: sends the held line, its id tagged.
    fn end_line(&mut self, out: &mut Vec<u8>) {
        if let Line::Candidate(held) =
            std::mem::replace(&mut self.line, Line::Candidate(Vec::new()))
        {
            match held.strip_prefix(b"id:") {
                Some(value) => {
                    let (space, id) = match value.strip_prefix(b" ") {
                        Some(id) => (&b" "[..], id),
                        None => (&b""[..], value),
                    };
                    out.extend_from_slice(b"id:");
                    out.extend_from_slice(space);
                    // An empty id resets the client's last event id: nothing
                    // to tag. Without a key the id goes untagged, and a
                    // resume with it is refused.
                    match (!id.is_empty())
                        .then(|| self.ids.tagged(&self.owner, id))
                        .flatten()
                    {
                        Some(tagged) => out.extend_from_slice(&tagged),
                        None => out.extend_from_slice(id),
                    }
                }
                None => out.extend_from_slice(&held),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn owner(agent: &str) -> Owner {
        Owner::for_tests("https://issuer.example", "alice", agent)
    }

    fn rewrite(ids: &EventIds, owner: &Owner, frames: &[&str]) -> String {
        let mut rewriter = ids.rewriter(owner);
        let mut out = Vec::new();
        for frame in frames {
            out.extend_from_slice(&rewriter.feed(frame.as_bytes()));
        }
        String::from_utf8(out).unwrap()
    }

    /// The ids of a rewritten stream, as a client's SSE parser reads them.
    fn ids_in(stream: &str) -> Vec<String> {
        stream
            .split(['\r', '\n'])
            .filter_map(|line| line.strip_prefix("id:"))
            .map(|v| v.strip_prefix(' ').unwrap_or(v).to_owned())
            .collect()
    }

    #[test]
    fn every_id_is_tagged_for_its_agent_and_only_the_ids_change() {
        let ids = EventIds::new();
        let a = owner("agent-a");
        let stream =
            "id: 0/1\ndata: {\"id\":\"x\"}\n\nretry: 300\r\nid:7\r\nevent: message\rdata: y\r\r\n";
        let out = rewrite(&ids, &a, &[stream]);
        let seen = ids_in(&out);
        assert_eq!(seen.len(), 2);
        assert_eq!(ids.untagged(&a, &seen[0]), Some("0/1"));
        assert_eq!(ids.untagged(&a, &seen[1]), Some("7"));
        // everything but the ids is unchanged, line ends included
        let expected = stream
            .replace("id: 0/1", &format!("id: {}", seen[0]))
            .replace("id:7", &format!("id:{}", seen[1]));
        assert_eq!(out, expected);
    }

    #[test]
    fn a_stream_split_anywhere_is_rewritten_the_same() {
        let ids = EventIds::new();
        let a = owner("agent-a");
        let stream = "id: 0/1\r\ndata: {\"a\":1}\r\n\r\nidle: no\nid: 2\ni\nid\n";
        let whole = rewrite(&ids, &a, &[stream]);
        for cut in 0..=stream.len() {
            for second in cut..=stream.len() {
                let parts = [&stream[..cut], &stream[cut..second], &stream[second..]];
                assert_eq!(rewrite(&ids, &a, &parts), whole, "cut at {cut}, {second}");
            }
        }
        assert!(whole.contains("idle: no\n") && whole.contains("\ni\nid\n"));
    }

    #[test]
    fn a_resume_needs_the_tag_of_the_agent_that_asks() {
        let ids = EventIds::new();
        let (a, b) = (owner("agent-a"), owner("agent-b"));
        let tagged = ids_in(&rewrite(&ids, &a, &["id: event-5\n\n"])).remove(0);
        assert_eq!(ids.untagged(&a, &tagged), Some("event-5"));
        // another agent, even of the same principal
        assert_eq!(ids.untagged(&b, &tagged), None);
        // the bare id, a made-up or cut tag, another layer's key
        assert_eq!(ids.untagged(&a, "event-5"), None);
        assert_eq!(ids.untagged(&a, "event-5.AAAAAAAAAAAAAAAAAAAAAA"), None);
        assert_eq!(ids.untagged(&a, &tagged[..tagged.len() - 1]), None);
        assert_eq!(ids.untagged(&a, &format!("{tagged}A")), None);
        assert_eq!(EventIds::new().untagged(&a, &tagged), None);
        // the tag covers the whole id, dots included
        let dotted = ids_in(&rewrite(&ids, &a, &["id: a.b\n"])).remove(0);
        assert_eq!(ids.untagged(&a, &dotted), Some("a.b"));
        let (_, tag) = dotted.rsplit_once('.').unwrap();
        assert_eq!(ids.untagged(&a, &format!("b.{tag}")), None);
    }

    #[test]
    fn without_a_key_nothing_resumes() {
        let ids = EventIds { key: None };
        let a = owner("agent-a");
        let out = rewrite(&ids, &a, &["id: 1\n\n"]);
        assert_eq!(out, "id: 1\n\n");
        assert_eq!(ids.untagged(&a, "1"), None);
    }

    #[test]
    fn an_unterminated_last_line_that_may_be_an_id_is_not_sent() {
        let ids = EventIds::new();
        let a = owner("agent-a");
        assert_eq!(rewrite(&ids, &a, &["data: 1\n\nid: 5"]), "data: 1\n\n");
        assert_eq!(rewrite(&ids, &a, &["data: 1\n\ni"]), "data: 1\n\n");
        // any other line goes out as it comes
        assert_eq!(rewrite(&ids, &a, &["data: 1\n\nda"]), "data: 1\n\nda");
    }

    #[test]
    fn an_empty_id_and_an_overlong_line_pass_unchanged() {
        let ids = EventIds::new();
        let a = owner("agent-a");
        assert_eq!(rewrite(&ids, &a, &["id:\n\n"]), "id:\n\n");
        let long = format!("id: {}\n", "x".repeat(MAX_ID_LINE));
        assert_eq!(rewrite(&ids, &a, &[&long]), long);
    }
}
