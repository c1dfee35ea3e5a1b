//! `hemflux demo`: a small fleet on the embedded store, fed by the vendor simulators, with a live
//! summary. It writes the fleet into a temporary folder, starts `hemflux-sim` for every vendor,
//! runs `hemflux run` on the folder, and prints what arrives until Ctrl-C or `--duration`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::api::Api;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub duration: Option<u64>,
    /// Keep the store here instead of in the temporary folder.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Address of the orchestrator's HTTP API during the demo; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
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
#[derive(Default)]
struct Fleet {
    profiles: Vec<(String, Value)>,
    env: Vec<String>,
    toml: Vec<String>,
}

/// Starts every simulator and describes a fleet that uses them. Polling is fast (seconds, not
/// minutes) so that every source delivers within the first 30 seconds.
fn prepare(root: &Path) -> Result<(Vec<Sim>, Fleet)> {
    let mut sims = Vec::new();
    let mut f = Fleet::default();
    f.profiles.push((
        "demo_synthetic.json".into(),
        serde_json::json!({
            "name": "Synthetic source",
            "synthetic": {"interval_ms": 1000, "points_per_batch": 5, "series": 2}
        }),
    ));

    // HomeSide: two district-heated villas near Halmstad.
    let villas = [
        ("HEM_FJV_Villa_101", "FC2000000101", 56.67, 12.86),
        ("HEM_FJV_Villa_102", "FC2000000102", 56.70, 12.90),
    ];
    let houses_file = root.join("sim-homeside-houses.txt");
    let lines: Vec<String> = villas
        .iter()
        .map(|(id, user, ..)| format!("{id}:{user}:demo-{user}"))
        .collect();
    write_private(&houses_file, &lines.join("\n"))?;
    let homeside = start_sim(
        "homeside",
        &[
            "--listen",
            "127.0.0.1:0",
            "--houses-file",
            &houses_file.to_string_lossy(),
            // The villas are houses that answer to their heat curve, near Halmstad.
            "--house-model-at",
            "56.68,12.88",
        ],
        root,
    )?;
    for (id, user, lat, lon) in villas {
        f.profiles.push((
            format!("{id}.json"),
            serde_json::json!({
                "id": id,
                "name": format!("Demo villa {}", &id[id.len() - 3..]),
                "location": {"lat": lat, "lon": lon},
                "homeside": {"base_url": homeside.address, "controller": id, "poll_interval_secs": 10}
            }),
        ));
        f.env.push(format!("HOUSE_{id}_USERNAME={user}"));
        f.env.push(format!("HOUSE_{id}_PASSWORD=demo-{user}"));
        f.env.push(format!("HOUSE_{id}_URL={}", homeside.address));
    }
    sims.push(homeside);

    // Meters of villa 101: WattiVahti electricity, Tibber prices, and district heating through
    // the energy company's Dropbox file exchange.
    let wattivahti = start_sim(
        "wattivahti",
        &["--listen", "127.0.0.1:0", "--refresh-token", "demo-token"],
        root,
    )?;
    let tibber = start_sim(
        "tibber",
        &["--listen", "127.0.0.1:0", "--token", "demo-tibber-token"],
        root,
    )?;
    let dropbox = start_sim(
        "dropbox",
        &["--listen", "127.0.0.1:0", "--partner-interval-ms", "500"],
        root,
    )?;
    let token_file = root.join("wattivahti_refresh_token.txt");
    write_private(&token_file, "demo-token\n")?;
    let villa = &mut f.profiles[1].1;
    villa["meters"] = serde_json::json!([
        {"name": "electricity", "source": {
            "type": "wattivahti", "metering_point": "1234567", "base_url": wattivahti.address,
            "token_url": format!("{}/pesv.onmicrosoft.com/b2c_1_tunnistus_signinv2/oauth2/v2.0/token", wattivahti.address),
            "token_file": token_file}},
        {"name": "tibber", "source": {
            "type": "tibber", "home_id": "96a14971-525a-4420-aae9-e5aedaa129ff",
            "base_url": format!("{}/v1-beta/gql", tibber.address), "min_request_interval_ms": 1000}}
    ]);
    villa["meter_ids"] = serde_json::json!(["735999255020057923"]);
    f.env.push(format!("TIBBER_URL={}", tibber.address));
    f.env.extend(
        [
            "TIBBER_TOKEN=demo-tibber-token",
            "DROPBOX_APP_KEY=sim-app-key",
            "DROPBOX_APP_SECRET=sim-app-secret",
            "DROPBOX_REFRESH_TOKEN=sim-dropbox-refresh-token",
        ]
        .map(String::from),
    );
    f.toml.push(format!(
        "[district_heating]\ndropbox_api_url = \"{0}\"\ndropbox_content_url = \"{0}\"\ndropbox_token_url = \"{0}/oauth2/token\"\ncheck_interval_secs = 5\ninitial_days = 2\n",
        dropbox.address
    ));
    sims.extend([wattivahti, tibber, dropbox]);

    // SMHI: weather for every entity with a location.
    let smhi = start_sim("smhi", &["--listen", "127.0.0.1:0"], root)?;
    f.toml.push(format!(
        "[weather]\nobservations_url = \"{0}/api/version/latest\"\nforecast_url = \"{0}/api/category/snow1g/version/1\"\nobservation_interval_secs = 30\n",
        smhi.address
    ));
    sims.push(smhi);

    // A Japanese household's B-route smart meter, through a Wi-SUN module on a pseudo-terminal.
    let tty = root.join("ttyBROUTE");
    let tty_arg = tty.to_string_lossy().into_owned();
    sims.push(start_sim(
        "broute",
        &[
            "--link",
            &tty_arg,
            "--scan-time-scale",
            "0.01",
            "--join-delay-ms",
            "200",
        ],
        root,
    )?);
    f.profiles.push((
        "tokyo_home.json".into(),
        serde_json::json!({
            "id": "tokyo_home",
            "name": "Household with a B-route smart meter",
            "serial": [{"name": "broute", "port": tty_arg, "interval_secs": 5}]
        }),
    ));
    f.env
        .push("BROUTE_tokyo_home_broute_ID=00112233445566778899AABBCCDDEEFF".into());
    f.env
        .push("BROUTE_tokyo_home_broute_PASSWORD=0123456789AB".into());

    // Arrigo: one office building, onboarded the way a user would, with `hemflux add-building`.
    sims.push(start_sim(
        "arrigo",
        &[
            "--listen",
            "127.0.0.1:0",
            "--username",
            "demo",
            "--password",
            "demo-arrigo",
        ],
        root,
    )?);
    Ok((sims, f))
}

/// `hemflux add-building` against the Arrigo simulator: verifies the login, discovers the
/// signals, and writes `buildings/demo_office.json` and the credentials.
fn onboard_building(root: &Path, data: &Path, arrigo: &str) -> Result<()> {
    use std::io::Write;
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "add-building",
            "--non-interactive",
            "--password-stdin",
            "--username",
            "demo",
        ])
        .args([
            "--building-id",
            "demo_office",
            "--name",
            "Demo office",
            "--poll-interval-secs",
            "10",
        ])
        .args(["--lat", "56.68", "--lon", "12.87"])
        .arg("--base-url")
        .arg(format!("{arrigo}/arrigo/api"))
        .arg("--buildings")
        .arg(root.join("buildings"))
        .arg("--profiles")
        .arg(root.join("profiles"))
        .arg("--data")
        .arg(data)
        .arg("--env-file")
        .arg(root.join(".env"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(root.join("add-building.log"))?)
        .spawn()?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(b"demo-arrigo\n")?;
    let status = child.wait()?;
    if !status.success() {
        bail!(
            "hemflux add-building failed ({status}); see {}",
            root.join("add-building.log").display()
        );
    }
    Ok(())
}

/// A free port for `--listen ...:0`, or a clear error when the given one is taken (else the
/// demo would show another process's workers as its own).
fn free_listen(listen: std::net::SocketAddr) -> Result<std::net::SocketAddr> {
    let probe = std::net::TcpListener::bind(listen).with_context(|| {
        format!("cannot listen on {listen} (in use?): pass --listen 127.0.0.1:0 for a free port")
    })?;
    Ok(probe.local_addr()?)
}

pub async fn run(mut args: DemoArgs) -> Result<()> {
    args.listen = free_listen(args.listen)?;
    let tmp = tempfile_dir()?;
    let root = tmp.path().to_path_buf();
    match run_in(&args, &root).await {
        Ok(()) if args.data.is_some() => Ok(()),
        Ok(()) => {
            let kept = tmp.keep();
            println!(
                "demo folder kept in {} (store: {})",
                kept.display(),
                kept.join("data").display()
            );
            Ok(())
        }
        Err(e) => {
            // The logs it points to stay for reading.
            let kept = tmp.keep();
            Err(e.context(format!("the demo folder is kept in {}", kept.display())))
        }
    }
}

async fn run_in(args: &DemoArgs, root: &Path) -> Result<()> {
    let root = root.to_path_buf();
    let data = args.data.clone().unwrap_or_else(|| root.join("data"));
    for d in ["profiles", "buildings"] {
        std::fs::create_dir_all(root.join(d))?;
    }
    std::fs::create_dir_all(&data)?;
    println!("hemflux demo: fleet in {}", root.display());

    let (mut sims, mut fleet) = prepare(&root)?;
    let mail = root.join("mail");
    let smtp = start_sim(
        "smtp",
        &["--port", "0", "--maildir", &mail.to_string_lossy()],
        &root,
    )?;
    let smtp_port = smtp
        .address
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string();
    sims.push(smtp);
    fleet.toml.push(format!(
        "[email]\nhost = \"127.0.0.1\"\nport = {smtp_port}\nfrom = \"hemflux demo <demo@hemflux.invalid>\"\nstarttls = false\nbase_url = \"http://{}/\"\n",
        args.listen
    ));
    let admin_password = demo_admin(&data)?;
    for s in &sims {
        println!("  simulator {:<11} {}", s.name, s.address);
    }
    for (name, v) in &fleet.profiles {
        std::fs::write(
            root.join("profiles").join(name),
            serde_json::to_string_pretty(v)?,
        )?;
    }
    write_private(&root.join(".env"), &(fleet.env.join("\n") + "\n"))?;
    if let Some(arrigo) = sims.iter().find(|s| s.name == "arrigo") {
        onboard_building(&root, &data, &arrigo.address)?;
    }
    crate::demo_history::import(&root, &data).await?;
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
            // Its own group: the terminal's Ctrl-C and hang-up reach the demo, which stops it.
            .process_group(0)
            .spawn_dying_with_parent()
            .context("starting hemflux run")?,
    );
    println!(
        "  orchestrator  http://{} (log: {})",
        args.listen,
        root.join("hemflux.log").display()
    );
    println!(
        "  web UI        http://{}/login  user admin  password {admin_password}  (made for this demo)",
        args.listen
    );
    println!(
        "  e-mail        {} (the SMTP simulator's messages)",
        mail.display()
    );

    let api = Api::reading(args.listen, &data);
    let started = Instant::now();
    let deadline = args.duration.map(|s| started + Duration::from_secs(s));
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => break,
        }
        if let Some(status) = orchestrator.0.try_wait()? {
            bail!(
                "hemflux run exited ({status}); see {}",
                root.join("hemflux.log").display()
            );
        }
        if let Some(summary) = summary(&api, started.elapsed()).await {
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
    }
    Ok(())
}

/// An admin for the web UI with a random password, told about everything by e-mail (to the
/// SMTP simulator); the password, to print. An existing one (`--data` kept) gets a new one.
fn demo_admin(data: &Path) -> Result<String> {
    use crate::users::{audit, notify::Event, Role, SessionSettings, Users};
    let users = Users::open(data, SessionSettings::default())?;
    let password = crate::users::random_hex(12)?;
    if users.account("admin")?.is_some() {
        users.set_password("admin", &password)?;
    } else {
        users.add_user("admin", &password, Role::Admin, "admin@demo.invalid")?;
        users.set_notifications("admin", &Event::ALL)?;
    }
    audit::record_as(&users, "demo", "add admin", None, None)?;
    Ok(password)
}

trait SpawnDyingWithParent {
    /// Spawns a child that gets SIGTERM when this process dies, even by SIGKILL (the demo runs
    /// on the main thread, which lives as long as the process).
    fn spawn_dying_with_parent(&mut self) -> std::io::Result<Child>;
}

impl SpawnDyingWithParent for Command {
    fn spawn_dying_with_parent(&mut self) -> std::io::Result<Child> {
        let parent = std::process::id() as i32;
        // SAFETY: only async-signal-safe calls (prctl, getppid) between fork and exec.
        unsafe {
            self.pre_exec(move || {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)?;
                if nix::unistd::getppid().as_raw() != parent {
                    return Err(std::io::Error::other("the demo exited"));
                }
                Ok(())
            })
        };
        self.spawn()
    }
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

async fn summary(api: &Api, elapsed: Duration) -> Option<String> {
    let workers = api.workers().await.ok()?;
    let counts: BTreeMap<String, u64> = api.get("/api/measurements").await.ok()?;
    let sinks: Vec<Value> = api.get("/api/sinks").await.ok()?;
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
