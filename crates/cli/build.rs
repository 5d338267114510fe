//! Names the commit and the target in `passport --version`.
//!
//! The commit comes from `git rev-parse --short HEAD` when the crate is built
//! from a git checkout and git is installed, else it is `unknown`: nothing
//! here can fail the build.

use std::path::Path;
use std::process::Command;

fn main() {
    let commit = git(&["rev-parse", "--short", "HEAD"])
        .filter(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| "unknown".to_owned());
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".to_owned());
    println!("cargo:rustc-env=PASSPORT_BUILD_COMMIT={commit}");
    println!("cargo:rustc-env=PASSPORT_BUILD_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
    // A new commit moves the branch's ref (or HEAD itself when detached);
    // a worktree keeps its HEAD outside the checkout, hence --git-path. A
    // path that does not exist would make cargo rerun this every build.
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--path-format=absolute", "--git-path", &name])
            && Path::new(&path).exists()
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}

/// The trimmed stdout of a successful `git` run, or `None`.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_owned())
}
