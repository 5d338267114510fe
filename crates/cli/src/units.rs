//! Durations and times as an operator types them (`--ttl 5m`,
//! `--since 2h`), parsed by clap `value_parser`s so a bad value is a usage
//! error (exit 2) naming the accepted forms.

use crate::time::days_from_civil;

/// The accepted duration forms, for error messages.
const DURATION_FORMS: &str =
    "use seconds (90) or numbers with units s, m, h, d (90s, 15m, 2h, 1d, 1h30m)";

/// The accepted `--since` forms, for error messages.
const SINCE_FORMS: &str = "use a duration ago (30m, 2h, 7d), RFC 3339 (2026-11-27T10:00:00Z, \
     2026-11-27T10:00:00+01:00) or seconds since the epoch";

/// Seconds in one unit.
fn unit_seconds(unit: char) -> Option<u64> {
    match unit {
        's' => Some(1),
        'm' => Some(60),
        'h' => Some(3600),
        'd' => Some(86_400),
        _ => None,
    }
}

/// `text` as seconds: a bare number is seconds; otherwise one or more
/// `<number><unit>` parts (`1h30m`), units s, m, h, d. Zero is accepted
/// here (ranges refuse it where it makes no sense); a sign, a fraction,
/// spaces and overflow are refused.
fn parse_duration(text: &str) -> Result<u64, String> {
    if text.starts_with('-') {
        return Err(format!("negative; {DURATION_FORMS}"));
    }
    let garbage = || format!("not a duration; {DURATION_FORMS}");
    let overflow = || format!("too long a duration; {DURATION_FORMS}");
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<u64>().map_err(|_| overflow());
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for c in text.chars() {
        if let Some(digit) = c.to_digit(10) {
            let n = number
                .unwrap_or(0)
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(digit)))
                .ok_or_else(overflow)?;
            number = Some(n);
        } else {
            let seconds = unit_seconds(c).ok_or_else(garbage)?;
            let n = number.take().ok_or_else(garbage)?;
            total = n
                .checked_mul(seconds)
                .and_then(|s| total.checked_add(s))
                .ok_or_else(overflow)?;
        }
    }
    // Empty, or digits after the last unit (`1h30`).
    if text.is_empty() || number.is_some() {
        return Err(garbage());
    }
    Ok(total)
}

/// `secs` the way an operator writes it (`1d`, `15m`, `1h30m`, `90s`).
fn human(secs: u64) -> String {
    if secs == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    let mut left = secs;
    for (unit, size) in [('d', 86_400), ('h', 3600), ('m', 60), ('s', 1)] {
        if left >= size {
            out.push_str(&format!("{}{unit}", left / size));
            left %= size;
        }
    }
    out
}

/// A clap value parser for a duration of `min..=max` seconds.
pub(crate) fn duration(
    min: u64,
    max: u64,
) -> impl Fn(&str) -> Result<u64, String> + Clone + Send + Sync + 'static {
    move |text| {
        let secs = parse_duration(text)?;
        if secs < min {
            return Err(format!(
                "too short: at least {}; {DURATION_FORMS}",
                human(min)
            ));
        }
        if secs > max {
            return Err(format!(
                "too long: at most {} ({max} s); {DURATION_FORMS}",
                human(max)
            ));
        }
        Ok(secs)
    }
}

/// Where `--since` starts: a time, or a duration before now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Since {
    /// This many seconds before now.
    Ago(u64),
    /// This NumericDate.
    At(i64),
}

impl Since {
    /// The NumericDate it names, `now` being the current one.
    pub(crate) fn resolve(self, now: i64) -> i64 {
        match self {
            Since::At(t) => t,
            Since::Ago(secs) => now.saturating_sub(i64::try_from(secs).unwrap_or(i64::MAX)),
        }
    }
}

/// A clap value parser for `--since`: a duration with a unit (that long
/// ago), RFC 3339 with any offset, or a bare number of seconds since the
/// epoch (as before units existed: a bare number is never a duration here).
pub(crate) fn since(text: &str) -> Result<Since, String> {
    if let Ok(t) = text.parse::<i64>() {
        return Ok(Since::At(t));
    }
    if let Some(t) = parse_rfc3339(text) {
        return Ok(Since::At(t));
    }
    if text.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && !text.contains([':', 'T', 't'])
        && let Ok(secs) = parse_duration(text)
    {
        return Ok(Since::Ago(secs));
    }
    Err(format!("not a time; {SINCE_FORMS}"))
}

/// RFC 3339 §5.6 `date-time`: `2026-11-27T10:00:00Z`, with a fraction of
/// a second (dropped), any offset (`+01:00`, `-05:30`), and `t`/`z` in
/// either case, as the RFC allows.
fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r| num_in(text, r);
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Leap seconds (60) count as the second before.
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let mut rest = text.get(19..)?;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = frac.get(digits..)?;
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let o = rest.as_bytes();
            if o.len() != 6 || !matches!(o[0], b'+' | b'-') || o[3] != b':' {
                return None;
            }
            let (oh, om) = (num_in(rest, 1..3)?, num_in(rest, 4..6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let secs = oh * 3600 + om * 60;
            if o[0] == b'-' { -secs } else { secs }
        }
    };
    let local = days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss.min(59);
    Some(local - offset)
}

/// The digits of `text[r]` as a number (no sign, no spaces).
fn num_in(text: &str, r: std::ops::Range<usize>) -> Option<i64> {
    let part = text.get(r)?;
    if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

fn days_in_month(y: i64, m: i64) -> i64 {
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::rfc3339;

    #[test]
    fn durations_take_units_and_a_bare_number_is_seconds() {
        for (text, secs) in [
            ("600", 600),
            ("90s", 90),
            ("5m", 300),
            ("2h", 7200),
            ("1d", 86_400),
            ("1h30m", 5400),
            ("1d2h3m4s", 93_784),
            ("0", 0),
        ] {
            assert_eq!(parse_duration(text), Ok(secs), "{text}");
        }
    }

    #[test]
    fn durations_refuse_garbage_signs_and_overflow() {
        for bad in [
            "", "m", "5x", "5 m", " 5m", "5M", "1.5h", "1h30", "h5", "5mm", "+5m", "5m ", "∞",
        ] {
            let e = parse_duration(bad).unwrap_err();
            assert!(
                e.contains("not a duration") && e.contains("15m"),
                "{bad}: {e}"
            );
        }
        for negative in ["-5m", "-5"] {
            let e = parse_duration(negative).unwrap_err();
            assert!(e.contains("negative") && e.contains("15m"), "{e}");
        }
        for huge in [
            "18446744073709551616",
            "213503982334602d",
            "99999999999999999999s",
        ] {
            let e = parse_duration(huge).unwrap_err();
            assert!(e.contains("too long") && e.contains("15m"), "{huge}: {e}");
        }
        assert_eq!(parse_duration("18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn a_duration_parser_enforces_its_range() {
        let ttl = duration(1, 86_400);
        assert_eq!(ttl("5m"), Ok(300));
        assert_eq!(ttl("1d"), Ok(86_400));
        assert!(ttl("0").unwrap_err().contains("at least 1s"));
        assert!(ttl("0m").unwrap_err().contains("too short"));
        let e = ttl("1d1s").unwrap_err();
        assert!(e.contains("at most 1d (86400 s)"), "{e}");
        assert!(ttl("later").unwrap_err().contains("90s, 15m"));
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(86_400), "1d");
        assert_eq!(human(5400), "1h30m");
        assert_eq!(human(61), "1m1s");
        assert_eq!(human(1), "1s");
        assert_eq!(human(0), "0s");
    }

    #[test]
    fn since_takes_a_duration_ago() {
        assert_eq!(since("2h"), Ok(Since::Ago(7200)));
        assert_eq!(since("30m").unwrap().resolve(10_000), 10_000 - 1800);
        assert_eq!(since("1d").unwrap().resolve(0), -86_400);
        assert_eq!(
            Since::Ago(u64::MAX).resolve(0),
            -i64::MAX,
            "saturates, never wraps"
        );
    }

    #[test]
    fn since_takes_rfc3339_with_any_offset() {
        let utc = 1_795_773_600; // 2026-11-27T10:00:00Z
        assert_eq!(rfc3339(utc), "2026-11-27T10:00:00Z");
        for (text, t) in [
            ("2026-11-27T10:00:00Z", utc),
            ("2026-11-27t10:00:00z", utc),
            ("2026-11-27T11:00:00+01:00", utc),
            ("2026-11-27T04:30:00-05:30", utc),
            ("2026-11-27T10:00:00+00:00", utc),
            ("2026-11-27T10:00:00-00:00", utc),
            ("2026-11-27T10:00:00.999Z", utc),
            ("2026-11-28T09:59:00+23:59", utc),
            ("2026-11-27T10:00:60Z", utc + 59),
            ("1795773600", utc),
        ] {
            assert_eq!(since(text), Ok(Since::At(t)), "{text}");
        }
        // Round trips through the renderer.
        for t in [0, 951_782_400, 1_700_000_000, 253_402_300_799] {
            assert_eq!(since(&rfc3339(t)), Ok(Since::At(t)));
        }
    }

    #[test]
    fn since_refuses_what_is_neither() {
        for bad in [
            "",
            "yesterday",
            "2h ago",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-11-22 13:00:00",
            "2026-11-22T13:00:00",
            "2026-11-22T24:00:00Z",
            "2026-11-22T13:00:00+1:00",
            "2026-11-22T13:00:00+24:00",
            "2026-11-22T13:00:00+01:60",
            "2026-11-22T13:00:00.Z",
            "2026-11-22T13:00:00ZZ",
            "2026-+1-22T13:00:00Z",
            "-2h",
        ] {
            let e = since(bad).unwrap_err();
            assert!(e.contains("RFC 3339") && e.contains("2h"), "{bad}: {e}");
        }
        assert_eq!(since("2024-02-29T00:00:00Z"), Ok(Since::At(1_709_164_800)));
    }
}
