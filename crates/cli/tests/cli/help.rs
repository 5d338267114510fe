//! Help as a new user reads it: every command's examples whole at 80
//! columns, `--version` naming the build, the manual pages.

use std::process::{Command, Output, Stdio};

use super::{BIN, stderr, stdout};

fn passport(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("COLUMNS", "80")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Every command as the words that run it, from the pages `passport man
/// --out` writes (`passport-keys-show.1` is `["keys", "show"]`).
fn commands_from_man_pages() -> Vec<Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    let out = passport(&["man", "--out", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut commands: Vec<Vec<String>> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            let stem = name.strip_suffix(".1").unwrap().to_owned();
            let page = std::fs::read_to_string(dir.path().join(&name)).unwrap();
            assert!(page.contains(&format!("\n.TH {stem} 1 ")), "{name}");
            // `status-list` is one word with a `-` in it.
            stem.replace("status-list", "status_list")
                .split('-')
                .skip(1)
                .map(|w| w.replace('_', "-"))
                .collect::<Vec<_>>()
        })
        .collect();
    commands.sort();
    commands
}

#[test]
fn every_commands_help_keeps_its_examples_whole_at_80_columns() {
    let commands = commands_from_man_pages();
    assert!(commands.len() >= 20, "{commands:?}");
    for command in commands {
        let mut args: Vec<&str> = command.iter().map(String::as_str).collect();
        args.push("--help");
        let out = passport(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        let help = stdout(&out);
        let lines: Vec<&str> = help.lines().collect();
        // The examples: each line a command (`passport …`, or a producer
        // piped into one) or the continuation of the line before, which
        // ends in ` \`. A line clap had wrapped would be neither.
        let start = lines
            .iter()
            .position(|l| l.starts_with("Example"))
            .unwrap_or_else(|| panic!("{args:?} has no example:\n{help}"));
        let mut continued = false;
        let mut examples = 0;
        for line in lines[start + 1..].iter().take_while(|l| !l.is_empty()) {
            assert!(line.chars().count() <= 80, "{args:?}: {line:?}");
            let indent = line.len() - line.trim_start().len();
            if continued {
                assert!(indent > 2, "{args:?}: {line:?} continues nothing");
            } else {
                assert_eq!(indent, 2, "{args:?}: {line:?} is a broken line");
                let first = line.split_whitespace().next().unwrap();
                assert!(
                    first == "passport" || line.contains("| passport"),
                    "{args:?}: {line:?} is not a command"
                );
                examples += 1;
            }
            continued = line.ends_with(" \\");
        }
        assert!(!continued && examples > 0, "{args:?}:\n{help}");
    }
}

#[test]
fn version_names_the_commit_and_the_target() {
    let out = passport(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    let line = stdout(&out);
    let rest = line
        .trim_end()
        .strip_prefix(&format!("passport {} (", env!("CARGO_PKG_VERSION")))
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{line:?}"));
    let (commit, target) = rest.split_once(' ').unwrap();
    assert!(target.starts_with(std::env::consts::ARCH), "{line:?}");
    // Built from this checkout: the commit is its HEAD (build.rs reruns
    // when HEAD moves). Outside a checkout it says so.
    let head = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8(o.stdout).unwrap().trim().to_owned());
    match head {
        Some(head) => assert_eq!(commit, head, "{line:?}"),
        None => assert_eq!(commit, "unknown", "{line:?}"),
    }
}

#[test]
fn man_prints_the_top_page_naming_every_command() {
    let out = passport(&["man"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let page = stdout(&out);
    assert!(page.contains("\n.TH passport 1 "), "{page}");
    assert!(page.contains("credentials for AI agents"), "{page}");
    let commands = commands_from_man_pages();
    let top: Vec<&Vec<String>> = commands.iter().filter(|c| c.len() == 1).collect();
    assert!(top.len() >= 15, "{top:?}");
    for command in top {
        assert!(
            page.contains(&format!("passport\\-{}(1)", command[0].replace('-', "\\-"))),
            "{command:?} is not named:\n{page}"
        );
    }
    // An unwritable --out is an io_error (exit 2), not a panic.
    let file = tempfile::NamedTempFile::new().unwrap();
    let out = passport(&["man", "--out", file.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("error[io_error]"), "{}", stderr(&out));
}
