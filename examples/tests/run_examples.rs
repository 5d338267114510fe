//! Runs every example program (cargo builds them for `cargo test`) and
//! checks the markers a reader relies on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/run_examples-… → target/<profile>/examples/<name>
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|d| d.parent()).unwrap();
    profile_dir.join("examples").join(name)
}

fn run(name: &str) -> String {
    let path = example(name);
    assert!(
        path.exists(),
        "{} not built; run `cargo test -p passport-examples`",
        path.display()
    );
    let start = Instant::now();
    let out = Command::new(&path).output().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{name} took too long"
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().last(),
        Some("Done."),
        "{name} must end with Done."
    );
    stdout
}

fn has_all(text: &str, markers: &[&str]) {
    for m in markers {
        assert!(text.contains(m), "missing {m:?} in:\n{text}");
    }
}

#[test]
fn remote_trust() {
    let out = run("remote_trust");
    has_all(
        &out,
        &[
            "RFC 9728 authorization_servers: [\"http://127.0.0.1:",
            "GET /files → 200 files of alice for agent report-writer",
            "error_description=\"revoked\"",
            "signs the next passport",
            "healthy: ",
        ],
    );
}

#[test]
fn quickstart() {
    let out = run("quickstart");
    has_all(
        &out,
        &[
            "logged in: alice",
            "OK: scheduler-bot acting for alice with IAL2 AAL- FAL-",
            "refused with `audience_mismatch`",
            "refused with `insufficient_ial`",
        ],
    );
}

#[test]
fn multi_agent_chain() {
    let out = run("multi_agent_chain");
    has_all(
        &out,
        &[
            "OK: 3 links, principal alice",
            "└─ alice-bot",
            "└─ bob",
            "└─ carol",
            "refused with `scope_widened`",
        ],
    );
}

#[test]
fn mcp_middleware() {
    let out = run("mcp_middleware");
    has_all(
        &out,
        &[
            "read_file    OK",
            "write_file   OK",
            "delete_file  DENY scope_violation",
            "DENY wildcard_not_allowed",
            "DENY audience_mismatch",
            // The root and the delegated child, each presented more than once;
            // the wildcard and other-audience passports were seen once each.
            "signature cache: 2 tokens",
            "write_file DENY scope_violation",
        ],
    );
}

#[test]
fn tool_wrapper() {
    let out = run("tool_wrapper");
    has_all(
        &out,
        &[
            "sunny in Lisbon",
            "refused with `scope_violation`",
            "refused with `bad_signature`",
        ],
    );
    assert_eq!(out.matches("refused with `bad_signature`").count(), 2);
}

#[test]
fn mcp_server() {
    let out = run("mcp_server");
    has_all(
        &out,
        &[
            "MCP endpoint:      http://127.0.0.1:",
            "/.well-known/oauth-protected-resource/mcp",
            "dpop_bound_access_tokens_required: true",
            "HTTP 401 Unauthorized",
            "initialize → files-and-mail",
            "Mcp-Session-Id ",
            "tools/list → read_file, send_mail, write_file",
            "read_file → notes/q3.txt: Q3: revenue up 12%",
            "tool read_file   requires files:read",
            "tools/call write_file → HTTP 403",
            "error=\"insufficient_scope\"",
            "scope=\"files:write\"",
        ],
    );
}

#[test]
fn mcp_agent() {
    let out = run("mcp_agent");
    has_all(
        &out,
        &[
            "summariser: scope [\"files:read\"]",
            "the bundle holds 2 passports",
            "read_file → notes/q3.txt: Q3: revenue up 12%",
            "(read by summariser for alice)",
            "HTTP 403",
            "error=\"insufficient_scope\"",
            "scope=\"files:write\"",
            "refused with `insufficient_scope`: the tool needs scope `files:write`",
            "first:  HTTP 200",
            "second: HTTP 401, refused with `invalid_dpop_proof` / `replay`",
        ],
    );
}

#[test]
fn governance_pipeline() {
    let out = run("governance_pipeline");
    has_all(
        &out,
        &[
            "policy version 1: environments dev, prod, test",
            "registered agent ",
            "(owner alice, team platform, roles [\"pipeline\",\"deployer\"]) by ida",
            "dev passport issued: expires_in 120 s (cap 120)",
            "test passport issued: expires_in 90 s (cap 90)",
            "prod answered authorization_pending (approval ",
            "alice (the owner) tries to approve: refused, self_approval:",
            "victor (approver) approves: state approved",
            "prod passport issued: expires_in 45 s (cap 45), citing approval ",
            "the tester holds its own passport, bound to its key",
            "actor_token: a child of 2 links",
            "for alice, bound to the tester's key",
            "engages the kill-switch: 4 passport(s) revoked",
            "the builder's next request: access_denied (kill-switch: agent ",
            "approval_requested",
            "kill_switch_engaged",
            "the trail verifies",
        ],
    );
}

#[test]
fn token_service() {
    let out = run("token_service");
    has_all(
        &out,
        &[
            "token service       http://127.0.0.1:",
            "metadata:  authorization, token, registration, introspection, revocation endpoints",
            "PKCE [\"S256\"]",
            "(a public client: PKCE, no secret)",
            "(browser) back at the agent's http://127.0.0.1:8765/callback",
            "principal alice (IAL2 AAL- FAL-)",
            "scopes    [\"files:read\", \"files:write\"]",
            "audience  https://files.example/api",
            "bound to the agent's key",
            "flow: RFC 8693 with actor_token",
            "use_dpop_nonce: the agent signs again with the nonce",
            "POST /token (token exchange) → HTTP 200, token_type \"DPoP\"",
            "child passport (2 links):",
            "scopes    [\"files:read\"]",
            "bound to the sub-agent's key",
            "active: true",
            "scope:  \"files:read\"",
            "sub: \"alice\"",
            "→ HTTP 200",
            "active: false",
        ],
    );
    // the child's act names the sub-agent, wrapping the agent
    let act = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("act:    "))
        .unwrap();
    let act: serde_json::Value = serde_json::from_str(act).unwrap();
    assert!(
        act["sub"].as_str().unwrap().starts_with("workload-"),
        "{act}"
    );
    assert!(
        act["act"]["sub"].as_str().unwrap().starts_with("dyn-"),
        "{act}"
    );
    assert!(out.contains("cnf:    {\"jkt\":\""), "{out}");
    for name in ["agent's passport", "child"] {
        assert!(
            out.lines()
                .any(|l| l.contains(&format!("signed status list: {name} "))
                    && l.ends_with("→ revoked")),
            "{name} not revoked in the status list:\n{out}"
        );
    }
}

/// One HTTP/1.1 request over a plain socket; the whole answer.
fn http_get(addr: &str, path: &str, authorization: Option<&str>) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn load_server_serves_prometheus_metrics() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let path = example("load_server");
    assert!(path.exists(), "{} not built", path.display());
    let dir = std::env::temp_dir().join(format!("load-server-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bundle_file = dir.join("bundle.txt");
    let mut child = Command::new(&path)
        .args([bundle_file.to_str().unwrap(), "30"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let addr = url
        .trim()
        .trim_start_matches("http://")
        .trim_end_matches("/files")
        .to_owned();
    let bundle = std::fs::read_to_string(&bundle_file).unwrap();

    let files = http_get(&addr, "/files", Some(&format!("Bearer {bundle}")));
    let unauthenticated = http_get(&addr, "/files", None);
    let metrics = http_get(&addr, "/metrics", None);
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();

    assert!(files.starts_with("HTTP/1.1 200"), "{files}");
    assert!(files.contains("ok helper"), "{files}");
    assert!(
        unauthenticated.starts_with("HTTP/1.1 401"),
        "{unauthenticated}"
    );
    // Unauthenticated, in the Prometheus text format.
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(
        metrics
            .to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{metrics}"
    );
}
