//! Stamps the binary with what `telemetry-tracker version --json` reports: the git
//! commit it was built from (`unknown` outside a checkout, e.g. from a source
//! tarball), the build time (`SOURCE_DATE_EPOCH` when set, for reproducible builds)
//! and the target triple.

use std::process::Command;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    let built = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
        .unwrap_or_else(OffsetDateTime::now_utc)
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "unknown".into());
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=TT_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=TT_BUILD_DATE={built}");
    println!("cargo:rustc-env=TT_TARGET={target}");
    // A new commit or checkout changes these; the build date alone does not rebuild.
    // Only paths that exist: cargo reruns the script on every build for a missing one.
    for path in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
}
