//! `passport serve --rotate-key`: schedules a rotation of the signing key
//! on the database and exits; a second one while the first is pending is
//! refused with the store's specific error.

use std::process::Command;

use super::{BIN, stderr, stdout};

fn passport(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("--data-dir")
        .arg(dir)
        .env_remove("AGENT_PASSPORT_HOME");
    cmd
}

#[test]
fn rotate_key_schedules_one_rotation_and_refuses_a_second_while_pending() {
    let dir = tempfile::tempdir().unwrap();
    let out = passport(dir.path())
        .args(["serve", "--rotate-key", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let printed: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert!(!printed["kid"].as_str().unwrap().is_empty());
    assert!(printed["signs_from"].as_i64().unwrap() > 0);
    let again = passport(dir.path())
        .args(["serve", "--rotate-key"])
        .output()
        .unwrap();
    assert_ne!(again.status.code(), Some(0));
    assert!(
        stderr(&again).contains("error[duplicate_key]"),
        "{}",
        stderr(&again)
    );
}
