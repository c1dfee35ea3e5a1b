//! `hemflux demo`: a small fleet on the embedded store, fed by the vendor simulators, with a live
//! summary. It writes the fleet into a temporary folder, starts `hemflux-sim` for every vendor,
//! runs `hemflux run` on the folder, and prints what arrives until Ctrl-C or `--duration`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub duration: Option<u64>,
    /// Keep the store here instead of in the temporary folder.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Port of the orchestrator's HTTP API during the demo.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
}

/// A simulator subprocess; killed on drop.
struct Sim {
    name: &'static str,
    child: Child,
    address: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sibling(name: &str) -> Result<PathBuf> {
    let path = std::env::current_exe()?.with_file_name(name);
    if !path.is_file() {
        bail!(
            "{} not found: build the whole workspace first (`cargo build --release`)",
            path.display()
        );
    }
    Ok(path)
}

fn start_sim(name: &'static str, args: &[&str], log_dir: &Path) -> Result<Sim> {
    let log = std::fs::File::create(log_dir.join(format!("sim-{name}.log")))?;
    let mut child = Command::new(sibling("hemflux-sim")?)
        .arg(name)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting the {name} simulator"))?;
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("LISTENING ") {
                let _ = tx.send(addr.trim().to_string());
            }
        }
    });
    let address = rx
        .recv_timeout(Duration::from_secs(15))
        .with_context(|| format!("the {name} simulator did not start"))?;
    Ok(Sim {
        name,
        child,
        address,
    })
}

/// The files of the demo fleet.
struct Fleet {
    profiles: Vec<(String, Value)>,
    buildings: Vec<(String, Value)>,
    env: Vec<String>,
    toml: Vec<String>,
}

fn fleet(sims: &BTreeMap<&'static str, String>) -> Fleet {
    let mut f = Fleet {
        profiles: Vec::new(),
        buildings: Vec::new(),
        env: Vec::new(),
        toml: Vec::new(),
    };
    f.profiles.push((
        "demo_synthetic.json".into(),
        serde_json::json!({
            "name": "Synthetic source",
            "synthetic": {"interval_ms": 1000, "points_per_batch": 5, "series": 2}
        }),
    ));
    let _ = sims;
    f
}

pub async fn run(args: DemoArgs) -> Result<()> {
    let tmp = tempfile_dir()?;
    let root = tmp.path().to_path_buf();
    let data = args.data.clone().unwrap_or_else(|| root.join("data"));
    for d in ["profiles", "buildings"] {
        std::fs::create_dir_all(root.join(d))?;
    }
    std::fs::create_dir_all(&data)?;
    println!("hemflux demo: fleet in {}", root.display());

    let sims: Vec<Sim> = Vec::new();
    let addresses: BTreeMap<&'static str, String> =
        sims.iter().map(|s| (s.name, s.address.clone())).collect();
    for s in &sims {
        println!("  simulator {:<11} {}", s.name, s.address);
    }
    let fleet = fleet(&addresses);
    for (name, v) in &fleet.profiles {
        std::fs::write(
            root.join("profiles").join(name),
            serde_json::to_string_pretty(v)?,
        )?;
    }
    for (name, v) in &fleet.buildings {
        std::fs::write(
            root.join("buildings").join(name),
            serde_json::to_string_pretty(v)?,
        )?;
    }
    write_private(&root.join(".env"), &fleet.env.join("\n"))?;
    let toml = format!(
        "[supervisor]\nstagger_ms = 2000\n\n{}",
        fleet.toml.join("\n")
    );
    std::fs::write(root.join("hemflux.toml"), toml)?;

    let log = std::fs::File::create(root.join("hemflux.log"))?;
    let mut orchestrator = OrchestratorProcess(
        Command::new(std::env::current_exe()?)
            .arg("run")
            .arg("--profiles")
            .arg(root.join("profiles"))
            .arg("--buildings")
            .arg(root.join("buildings"))
            .arg("--data")
            .arg(&data)
            .arg("--config")
            .arg(root.join("hemflux.toml"))
            .arg("--env-file")
            .arg(root.join(".env"))
            .arg("--listen")
            .arg(args.listen.to_string())
            .arg("--log-format")
            .arg("json")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting hemflux run")?,
    );
    println!(
        "  orchestrator  http://{} (log: {})",
        args.listen,
        root.join("hemflux.log").display()
    );

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()?;
    let base = format!("http://{}", args.listen);
    let started = Instant::now();
    let deadline = args.duration.map(|s| started + Duration::from_secs(s));
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::signal::ctrl_c() => break,
        }
        if let Some(status) = orchestrator.0.try_wait()? {
            bail!(
                "hemflux run exited ({status}); see {}",
                root.join("hemflux.log").display()
            );
        }
        if let Some(summary) = summary(&client, &base, started.elapsed()).await {
            println!("{summary}");
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    orchestrator.stop();
    drop(sims);
    if args.data.is_some() {
        println!("data kept in {}", data.display());
    } else {
        let kept = tmp.keep();
        println!(
            "demo folder kept in {} (store: {})",
            kept.display(),
            kept.join("data").display()
        );
    }
    Ok(())
}

struct OrchestratorProcess(Child);

impl OrchestratorProcess {
    fn stop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        for _ in 0..100 {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for OrchestratorProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            self.stop();
        }
    }
}

async fn summary(client: &reqwest::Client, base: &str, elapsed: Duration) -> Option<String> {
    let workers: Vec<Value> = client
        .get(format!("{base}/api/workers"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let counts: BTreeMap<String, u64> = client
        .get(format!("{base}/api/measurements"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let sinks: Vec<Value> = client
        .get(format!("{base}/api/sinks"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for w in &workers {
        *states
            .entry(w["state"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
    }
    let states: Vec<String> = states.iter().map(|(s, n)| format!("{n} {s}")).collect();
    let points: Vec<String> = counts.iter().map(|(m, n)| format!("{m}={n}")).collect();
    let mut line = format!(
        "[{:>4}s] workers: {} | points: {}",
        elapsed.as_secs(),
        states.join(", "),
        if points.is_empty() {
            "none yet".into()
        } else {
            points.join(" ")
        }
    );
    for s in &sinks {
        line.push_str(&format!(
            " | sink {}: {} behind",
            s["name"].as_str().unwrap_or("?"),
            s["points_behind"]
        ));
    }
    Some(line)
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

fn tempfile_dir() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("hemflux-demo-")
        .tempdir()
        .context("creating a temporary folder")
}
