//! The real `thriftshop` binary as a child process (`--compare-tracing`): on free loopback ports, with a fresh
//! data directory, configured through `THRIFTSHOP__*` environment variables only, its logs in a file.
use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

/// The services' configuration keys, in `services.*` order.
const SERVICES: [&str; 7] = [
    "CATALOG",
    "INVENTORY",
    "CART",
    "ORDER",
    "USER",
    "SESSION",
    "RECOMMENDER",
];

/// How long a child may take to answer `/readyz` with 200.
pub const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a child may take to exit after SIGTERM before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A running `thriftshop` child process.
pub struct ChildShop {
    /// The GraphQL endpoint.
    pub url: String,
    pub gateway: SocketAddr,
    /// The child's stdout and stderr.
    pub log: PathBuf,
    child: Option<Child>,
    _data: tempfile::TempDir,
}

/// `n` distinct free loopback ports (held together while chosen, so they differ).
fn free_ports(n: usize) -> anyhow::Result<Vec<SocketAddr>> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .context("finding free loopback ports")?;
    held.iter()
        .map(|l| l.local_addr().context("local address"))
        .collect()
}

/// The last `n` lines of a file (for error messages).
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl ChildShop {
    /// Starts `binary` (the all-in-one shop) with `otlp_endpoint` (tracing at 100 % sampling exported there) or
    /// without (tracing off), and waits until `GET /readyz` answers 200.
    pub async fn start(binary: &Path, otlp_endpoint: Option<&str>) -> anyhow::Result<Self> {
        let data = tempfile::tempdir().context("creating a data directory")?;
        let log = data.path().join("thriftshop.log");
        let out = std::fs::File::create(&log).context("creating the child's log")?;
        let ports = free_ports(1 + SERVICES.len())?;
        let gateway = ports[0];
        let mut cmd = Command::new(binary);
        // Only the settings below: nothing inherited from the caller's environment changes one phase alone.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("THRIFTSHOP__") {
                cmd.env_remove(key);
            }
        }
        cmd.env("THRIFTSHOP__DATA_DIR", data.path().join("data"))
            .env("THRIFTSHOP__GATEWAY__LISTEN", gateway.to_string());
        for (name, addr) in SERVICES.iter().zip(&ports[1..]) {
            cmd.env(format!("THRIFTSHOP__SERVICES__{name}"), addr.to_string());
        }
        if let Some(endpoint) = otlp_endpoint {
            cmd.env("THRIFTSHOP__TELEMETRY__OTLP_ENDPOINT", endpoint)
                .env("THRIFTSHOP__TELEMETRY__SAMPLING_RATIO", "1.0");
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut shop = Self {
            url: format!("http://{gateway}/graphql"),
            gateway,
            log,
            child: Some(child),
            _data: data,
        };
        shop.wait_ready().await?;
        Ok(shop)
    }

    /// The child's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let url = format!("http://{}/readyz", self.gateway);
        let started = Instant::now();
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!(
                    "the shop exited ({status}) before it was ready; its log ends:\n{}",
                    tail(&self.log, 30)
                );
            }
            if let Ok(r) = client.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                bail!(
                    "the shop was not ready within {READY_TIMEOUT:?}; its log ends:\n{}",
                    tail(&self.log, 30)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the child: SIGTERM (the shop shuts down and flushes pending spans), then a kill after
    /// [`STOP_TIMEOUT`]. Returns whether it exited on SIGTERM.
    pub async fn stop(mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let termed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        let started = Instant::now();
        while termed && started.elapsed() < STOP_TIMEOUT {
            if let Ok(Some(_)) = child.try_wait() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        eprintln!(
            "the shop (pid {}) did not exit on SIGTERM within {STOP_TIMEOUT:?}: killing it",
            child.id()
        );
        let _ = child.kill();
        let _ = child.wait();
        false
    }
}

impl Drop for ChildShop {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
