//! Units: `--ttl 5m` (a bare number is seconds) and `--since 2h` or
//! RFC 3339 with any offset; bad values are usage errors naming the forms.

use passport_mock_oidc::MockOidc;
use serde_json::Value;

use super::state::ISSUE;
use super::{Env, stderr, stdout};

/// `exp - iat` of each passport of a bundle, leaf first.
fn lifetimes(env: &Env, bundle: &str) -> Vec<i64> {
    let out = env.run(&["inspect", "--json", bundle]);
    let doc: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    doc.as_array()
        .unwrap()
        .iter()
        .map(|p| p["claims"]["exp"].as_i64().unwrap() - p["claims"]["iat"].as_i64().unwrap())
        .collect()
}

fn issue_ttl(env: &Env, ttl: &str) -> std::process::Output {
    env.run(&[ISSUE, &["--ttl", ttl]].concat())
}

/// A clap usage error (exit 2) that names the argument and the forms.
fn assert_usage(out: &std::process::Output, arg: &str, says: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(arg) && err.contains(says), "{err}");
    // Every refusal names the accepted forms.
    assert!(err.contains("15m") || err.contains("RFC 3339"), "{err}");
    assert!(stdout(out).is_empty(), "{}", stdout(out));
}

#[tokio::test(flavor = "multi_thread")]
async fn ttl_takes_units_and_a_bare_number_is_seconds() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    env.login_with_token(&mock);
    for (ttl, secs) in [("5m", 300), ("600", 600), ("1h30m", 5400), ("1d", 86_400)] {
        let out = issue_ttl(&env, ttl);
        assert_eq!(out.status.code(), Some(0), "{ttl}: {}", stderr(&out));
        assert_eq!(lifetimes(&env, stdout(&out).trim()), [secs], "{ttl}");
    }
    let root = stdout(&issue_ttl(&env, "1h")).trim().to_owned();
    let out = env.run_with_stdin(
        &[
            "delegate",
            "--agent-id",
            "reader",
            "--agent-model",
            "m2",
            "--aud",
            "https://files.example",
            "--ttl",
            "2m",
        ],
        root.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(lifetimes(&env, stdout(&out).trim()), [120, 3600]);
}

#[tokio::test(flavor = "multi_thread")]
async fn ttl_refuses_zero_negative_overflow_garbage_and_too_long() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    env.login_with_token(&mock);
    for (ttl, says) in [
        ("0", "too short: at least 1s"),
        ("0m", "too short"),
        ("=-5m", "negative"),
        ("5x", "90s, 15m, 2h, 1d"),
        ("5 m", "90s, 15m, 2h, 1d"),
        ("1.5h", "90s, 15m, 2h, 1d"),
        ("", "90s, 15m, 2h, 1d"),
        ("99999999999999999999999", "too long a duration"),
        ("9999999999999999999d", "too long a duration"),
        ("1d1s", "at most 1d (86400 s)"),
    ] {
        // `=` keeps a leading `-` a value rather than a flag.
        let out = match ttl.strip_prefix('=') {
            Some(value) => env.run(&[ISSUE, &[&format!("--ttl=-{}", &value[1..])]].concat()),
            None => issue_ttl(&env, ttl),
        };
        assert_usage(&out, "--ttl", says);
    }
    let out = env.run_with_stdin(
        &[
            "delegate",
            "--agent-id",
            "r",
            "--agent-model",
            "m",
            "--aud",
            "https://x.example",
            "--ttl",
            "2d",
        ],
        b"",
    );
    assert_usage(&out, "--ttl", "at most 1d");
}

#[test]
fn every_duration_option_takes_units() {
    let mock_less = |args: &[&str]| {
        std::process::Command::new(super::BIN)
            .args(args)
            .env_clear()
            .output()
            .unwrap()
    };
    // The help shows the forms.
    for command in [&["issue", "--help"][..], &["delegate", "--help"]] {
        let help = stdout(&mock_less(command));
        assert!(
            help.contains("--ttl <DURATION>") && help.contains("15m"),
            "{help}"
        );
    }
    let help = stdout(&mock_less(&["audit", "--help"]));
    assert!(help.contains("2h") && help.contains("+01:00"), "{help}");
    // Other durations refuse what they cannot take, by their own range.
    for (args, says) in [
        (&["login", "--timeout", "2h"][..], "at most 1h"),
        (
            &["verify", "x", "--aud", "a", "--clock-skew", "3m"],
            "at most 2m",
        ),
        (
            &["verify", "x", "--aud", "a", "--max-lifetime", "31d"],
            "at most 30d",
        ),
        (&["status-list", "--lifetime", "30s"], "at least 1m"),
        (&["status-list", "--ttl", "soon"], "90s, 15m"),
    ] {
        assert_usage(&mock_less(args), args[args.len() - 2], says);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn other_durations_take_units() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    env.login_with_token(&mock);
    let out = env.run(&["status-list", "--ttl", "2m", "--lifetime", "2h", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let token = doc["token"].as_str().unwrap();
    let payload = passport_jose::b64::decode(token.split('.').nth(1).unwrap()).unwrap();
    let claims: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(claims["ttl"], 120);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        7200
    );
    let root = env.issue(&["files:read"]);
    let out = env.run(&[
        "verify",
        &root,
        "--aud",
        "https://orch.example",
        "--max-lifetime",
        "10m",
        "--clock-skew",
        "1m",
    ]);
    assert_eq!(out.status.code(), Some(1), "a 15m root is over 10m");
    let out = env.run(&[
        "verify",
        &root,
        "--aud",
        "https://orch.example",
        "--max-lifetime",
        "15m",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_since_takes_a_duration_ago_or_rfc3339_with_any_offset() {
    let mock = MockOidc::start().await;
    let env = Env::new(&mock);
    env.login_with_token(&mock);
    env.issue(&["files:read"]);
    let records = |since: &str| {
        let out = env.run(&["audit", "--json", "--since", since]);
        assert_eq!(out.status.code(), Some(0), "{since}: {}", stderr(&out));
        stdout(&out).lines().count()
    };
    assert_eq!(records("2h"), 1, "issued a moment ago");
    assert_eq!(records("1d2h"), 1);
    // The record's time as the text table shows it (RFC 3339, UTC), then
    // the same wall clock an hour ahead or behind with that offset: the
    // same instant. An offset one minute off moves it past the record or
    // before it.
    let table = stdout(&env.run(&["audit"]));
    let utc = table
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    assert!(utc.ends_with('Z') && utc.len() == 20, "{table}");
    let hour: u32 = utc[11..13].parse().unwrap();
    let (wall, sign) = if hour < 23 {
        (hour + 1, '+')
    } else {
        (hour - 1, '-')
    };
    let at = |offset: &str| format!("{}{wall:02}{}{sign}{offset}", &utc[..11], &utc[13..19]);
    assert_eq!(records(utc), 1, "at the record's second");
    assert_eq!(records(&at("01:00")), 1, "{}", at("01:00"));
    let (after, before) = if sign == '+' {
        ("00:59", "01:01")
    } else {
        ("01:01", "00:59")
    };
    assert_eq!(records(&at(after)), 0, "a minute after: {}", at(after));
    assert_eq!(records(&at(before)), 1, "a minute before: {}", at(before));
    assert_eq!(records("2999-01-01T00:00:00+05:30"), 0);
    for bad in [
        "yesterday",
        "-2h",
        "2h ago",
        "2026-11-27T10:00:00",
        "2026-11-27T10:00:00+1:00",
    ] {
        let out = env.run(&["audit", &format!("--since={bad}")]);
        assert_usage(&out, "--since", "RFC 3339");
    }
}
