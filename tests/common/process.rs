//! The real binary as a child process.

use super::TestDb;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_telemetry-tracker");

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A command with the test database's settings and a clean environment.
pub fn command(db: &TestDb) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .arg("--data-dir")
        .arg(db.data_dir());
    if let Some(url) = &db.url {
        cmd.env("DATABASE_URL", url);
    }
    cmd
}

/// Runs a CLI command with `--json`; returns (exit ok, stdout JSON or null, stderr).
pub fn cli(db: &TestDb, args: &[&str], stdin: Option<&str>) -> (bool, serde_json::Value, String) {
    cli_env(db, &[], args, stdin)
}

/// [`cli`] with more environment variables (they win over the test database's).
pub fn cli_env(
    db: &TestDb,
    env: &[(&str, &str)],
    args: &[&str],
    stdin: Option<&str>,
) -> (bool, serde_json::Value, String) {
    let mut cmd = command(db);
    cmd.envs(env.iter().copied());
    cmd.arg("--json")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd.spawn().expect("spawn binary");
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(stdout).unwrap();
    let json = if status.success() {
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 1, "--json prints exactly one line: {stdout:?}");
        serde_json::from_str(lines[0]).expect("stdout is one JSON object")
    } else {
        assert!(
            stdout.is_empty(),
            "nothing on stdout on failure: {stdout:?}"
        );
        serde_json::Value::Null
    };
    (status.success(), json, String::from_utf8(stderr).unwrap())
}

/// Runs a CLI command with `--json` that must succeed; returns its JSON output.
pub fn cli_ok(db: &TestDb, args: &[&str], stdin: Option<&str>) -> serde_json::Value {
    let (ok, json, stderr) = cli(db, args, stdin);
    assert!(ok, "{args:?} failed: {stderr}");
    json
}

pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Server {
    /// Starts `serve` and waits until /health answers.
    pub async fn start(db: &TestDb, extra_env: &[(&str, &str)]) -> Server {
        Self::spawn(db, extra_env, Stdio::null()).await
    }

    /// Like [`Server::start`], with the server's stderr (its log) written to `log`
    /// instead of discarded.
    pub async fn start_logged(db: &TestDb, extra_env: &[(&str, &str)], log: &Path) -> Server {
        let file = std::fs::File::create(log).expect("create the server's log file");
        Self::spawn(db, extra_env, Stdio::from(file)).await
    }

    /// Starts `serve` with stderr to `stderr`; it is reached at the `HOST` in
    /// `extra_env`, 127.0.0.1 without one.
    async fn spawn(db: &TestDb, extra_env: &[(&str, &str)], stderr: Stdio) -> Server {
        let port = free_port();
        let mut cmd = command(db);
        cmd.arg("serve")
            .env("PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(stderr);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let host = extra_env
            .iter()
            .find(|(k, _)| *k == "HOST")
            .map_or("127.0.0.1", |(_, v)| *v);
        let child = cmd.spawn().expect("spawn server");
        let server = Server {
            child,
            base: format!("http://{host}:{port}"),
        };
        server.wait_healthy().await;
        server
    }

    pub async fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = reqwest::Client::new();
        while Instant::now() < deadline {
            if let Ok(res) = client.get(format!("{}/health", self.base)).send().await {
                if res.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server did not become healthy");
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill_hard(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
