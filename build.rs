//! Records the git commit the binary is built from, for `notionlake --version`: from
//! `NOTIONLAKE_GIT_COMMIT` when set (a build from a source archive), else from the checkout's
//! `git rev-parse`, else `unknown`. Reruns when the checkout's HEAD moves.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=NOTIONLAKE_GIT_COMMIT");
    let commit = std::env::var("NOTIONLAKE_GIT_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=NOTIONLAKE_GIT_COMMIT={commit}");
    let git = Path::new(".git");
    if git.is_dir() {
        println!("cargo:rerun-if-changed=.git/HEAD");
        println!("cargo:rerun-if-changed=.git/packed-refs");
        // The branch HEAD names moves with every commit.
        if let Ok(head) = std::fs::read_to_string(git.join("HEAD"))
            && let Some(branch) = head.trim().strip_prefix("ref: ")
        {
            println!("cargo:rerun-if-changed=.git/{branch}");
        }
    }
}

/// `git rev-parse --short=12 HEAD` of the checkout, if it is one and git runs.
fn git_commit() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let commit = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!commit.is_empty()).then_some(commit)
}
