//! `hemflux-sim broute`: a Wi-SUN B-route module (SKSTACK-IP) and the smart meter behind it, on
//! a real pseudo-terminal. Prints `LISTENING <path>` (the `--link` symlink, or the pty itself),
//! then `SIM <what happened>` lines on stdout; runs until stdin closes or SIGTERM.

mod meter;
mod module;
mod pty;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use tokio::sync::mpsc;

use meter::Meter;
use module::{parse_input, Module};
use pty::Pty;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Family {
    /// RL7023 Stick-D/IPS: A1-style, ROPT/WOPT refused (FAIL ER04), ERXUDP data always hex.
    Ips,
    /// BP35A1: A1-style, ROPT/WOPT select binary or hex ERXUDP data (see --binary).
    Bp35a1,
    /// BP35C0/C2, Stick-D/DSS: SIDE tokens in SKSCAN, SKSENDTO, EVENT and ERXUDP; ROPT refused.
    C,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A symlink to create to the pty; it stays the same when the port is dropped and comes
    /// back (the pty itself gets a new number). Without it the pty path is printed.
    #[arg(long)]
    pub link: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "ips")]
    pub family: Family,
    /// BP35A1 only: ERXUDP data starts out binary (the factory default) until `WOPT 01`.
    #[arg(long)]
    pub binary: bool,
    /// The B-route ID the meter accepts (32 characters); its last 8 are the pairing ID.
    #[arg(long, default_value = "00112233445566778899AABBCCDDEEFF")]
    pub rbid: String,
    /// The B-route password the meter accepts; any other gets EVENT 24.
    #[arg(long, default_value = "0123456789AB")]
    pub password: String,
    /// The meter's channel (hex, 21-3C), PAN ID and MAC address.
    #[arg(long, default_value = "21", value_parser = parse_channel)]
    pub channel: u8,
    #[arg(long, default_value = "8888")]
    pub pan_id: String,
    #[arg(long, default_value = "001C6400601421A3")]
    pub meter_mac: String,
    /// Multiplies scan times (0.01 s x (2^D + 1) per channel); 0.01 for fast tests.
    #[arg(long, default_value_t = 1.0)]
    pub scan_time_scale: f64,
    /// The first N scans find nothing (EVENT 22 without a beacon).
    #[arg(long, default_value_t = 0)]
    pub fail_scans: u32,
    /// Time from SKJOIN to EVENT 25/24.
    #[arg(long, default_value_t = 1500)]
    pub join_delay_ms: u64,
    /// The PANA session expires this long after each join (EVENT 29, then EVENT 25).
    #[arg(long)]
    pub session_lifetime_secs: Option<f64>,
    /// After EVENT 29 the re-authentication fails (EVENT 24): the host must join again.
    #[arg(long)]
    pub reauth_fails: bool,
    /// The device vanishes this long after it appeared (pty closed, link removed) ...
    #[arg(long)]
    pub drop_port_after_secs: Option<f64>,
    /// ... and comes back (new pty, link restored, module state reset) after this long.
    #[arg(long, default_value_t = 2.0)]
    pub drop_port_for_secs: f64,
    /// After every Nth answer, one garbage line (noise, truncated or odd-length hex, wrong DATALEN, cut-off event).
    #[arg(long)]
    pub garbage_every: Option<u64>,
    /// Writes output in small random pieces, so that lines arrive split across reads.
    #[arg(long)]
    pub split_writes: bool,
    /// Every Nth request to the meter gets no answer at all.
    #[arg(long)]
    pub drop_every: Option<u64>,
    /// Each answer is preceded by the previous one again (a duplicate with a stale TID).
    #[arg(long)]
    pub stale_replies: bool,
    /// Delay between SKSENDTO's OK and the meter's ERXUDP answer ("answer slowly").
    #[arg(long, default_value_t = 50)]
    pub reply_delay_ms: u64,
    /// The meter clock at start (RFC 3339); default now.
    #[arg(long)]
    pub start: Option<Timestamp>,
    /// Meter seconds per real second.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    #[arg(long, default_value = "Asia/Tokyo")]
    pub timezone: String,
    /// Cumulative energy at 2026-01-01T00:00 meter time.
    #[arg(long, default_value_t = 6500.0)]
    pub initial_kwh: f64,
    /// E1 unit code (hex): 00 = 1 kWh, 01 = 0.1, 02 = 0.01 ... 0A = 10 kWh.
    #[arg(long, default_value = "01", value_parser = parse_unit)]
    pub unit: u8,
    /// D3 coefficient; without it D3 is answered with Get_SNA (as many meters do).
    #[arg(long)]
    pub coefficient: Option<u32>,
    /// D7 effective digits.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u8).range(1..=8))]
    pub digits: u8,
    /// Single-phase 2-wire: E8's T phase is 7FFE.
    #[arg(long)]
    pub two_wire: bool,
    /// EPCs (hex, comma-separated) answered with Get_SNA.
    #[arg(long, value_delimiter = ',', value_parser = parse_hex_byte)]
    pub sna: Vec<u8>,
    /// Print E0 (raw) at this meter instant for these meter settings, and exit.
    #[arg(long)]
    pub energy_at: Option<Timestamp>,
}

fn parse_hex_byte(s: &str) -> Result<u8, String> {
    u8::from_str_radix(s, 16).map_err(|e| format!("{s:?}: {e}"))
}

fn parse_channel(s: &str) -> Result<u8, String> {
    parse_hex_byte(s).and_then(|c| match c {
        0x21..=0x3C => Ok(c),
        _ => Err("channels are 21-3C".into()),
    })
}

fn parse_unit(s: &str) -> Result<u8, String> {
    parse_hex_byte(s).and_then(|u| match u {
        0x00..=0x04 | 0x0A..=0x0D => Ok(u),
        _ => Err("E1 units are 00-04 and 0A-0D".into()),
    })
}

/// The meter clock: starts at `--start` and runs `--time-scale` times faster than real time.
pub struct Clock {
    start: Timestamp,
    started: std::time::Instant,
    scale: f64,
}

impl Clock {
    pub fn now(&self) -> Timestamp {
        let ms = self.started.elapsed().as_secs_f64() * self.scale * 1000.0;
        self.start + jiff::SignedDuration::from_millis(ms as i64)
    }
}

/// What outlives a power cycle of the module.
pub struct Sim {
    opts: Args,
    meter: Meter,
    clock: Clock,
    /// ERXUDP data in hex (kept in flash by WOPT).
    hex: AtomicBool,
    scans: AtomicU32,
}

/// `FE80:0000:0000:0000:` + the MAC with bit 0x02 of its first byte flipped.
pub fn link_local(mac: &str) -> String {
    let mut b = u64::from_str_radix(mac, 16).unwrap_or(0).to_be_bytes();
    b[0] ^= 0x02;
    let groups: Vec<String> = b
        .chunks(2)
        .map(|c| format!("{:02X}{:02X}", c[0], c[1]))
        .collect();
    format!("FE80:0000:0000:0000:{}", groups.join(":"))
}

/// A line on stdout for whoever drives the simulator (tests wait for these).
fn report(what: &str) {
    println!("SIM {what}");
}

impl Sim {
    fn new(opts: Args) -> Result<Sim> {
        if opts.rbid.len() != 32 || opts.password.is_empty() || opts.meter_mac.len() != 16 {
            bail!("--rbid must have 32 characters, --password at least one, --meter-mac 16 hex digits");
        }
        let meter = Meter {
            zone: TimeZone::get(&opts.timezone)
                .with_context(|| format!("--timezone {}", opts.timezone))?,
            initial_kwh: opts.initial_kwh,
            unit: opts.unit,
            coefficient: opts.coefficient,
            digits: opts.digits,
            two_wire: opts.two_wire,
        };
        let clock = Clock {
            start: opts.start.unwrap_or_else(Timestamp::now),
            started: std::time::Instant::now(),
            scale: opts.time_scale,
        };
        Ok(Sim {
            hex: AtomicBool::new(!(opts.family == Family::Bp35a1 && opts.binary)),
            scans: AtomicU32::new(0),
            opts,
            meter,
            clock,
        })
    }
}

pub async fn run(opts: Args) -> Result<()> {
    let sim = Arc::new(Sim::new(opts)?);
    if let Some(at) = sim.opts.energy_at {
        println!("{}", sim.meter.raw(at));
        return Ok(());
    }
    let result = tokio::select! {
        r = power_cycles(sim.clone()) => r,
        _ = crate::common::stdin_closed() => Ok(()),
    };
    if let Some(link) = &sim.opts.link {
        let _ = std::fs::remove_file(link);
    }
    result
}

/// Runs the module on a pty; when told to drop the port, closes it and opens a new one later.
async fn power_cycles(sim: Arc<Sim>) -> Result<()> {
    let mut first = true;
    loop {
        let pty = Pty::open()?;
        let shown = match &sim.opts.link {
            Some(link) => {
                let _ = std::fs::remove_file(link);
                std::os::unix::fs::symlink(&pty.path, link).with_context(|| {
                    format!("linking {} to {}", link.display(), pty.path.display())
                })?;
                link.clone()
            }
            None => pty.path.clone(),
        };
        if first {
            println!("LISTENING {}", shown.display());
        } else {
            report(&format!("port is back at {}", shown.display()));
        }
        let drop_after = sim.opts.drop_port_after_secs.filter(|_| first);
        first = false;
        let serve = serve_pty(sim.clone(), &pty);
        match drop_after {
            None => return serve.await,
            Some(secs) => {
                tokio::select! {
                    r = serve => return r,
                    _ = tokio::time::sleep(Duration::from_secs_f64(secs)) => {}
                }
            }
        }
        drop(pty);
        if let Some(link) = &sim.opts.link {
            remove(link);
        }
        report("port dropped");
        tokio::time::sleep(Duration::from_secs_f64(sim.opts.drop_port_for_secs)).await;
    }
}

fn remove(link: &Path) {
    if let Err(e) = std::fs::remove_file(link) {
        tracing::warn!("removing {}: {e}", link.display());
    }
}

/// One power cycle: a fresh module state on this pty.
async fn serve_pty(sim: Arc<Sim>, pty: &Pty) -> Result<()> {
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let module = Module::new(sim.clone(), out_tx);
    let split = sim.opts.split_writes;
    let writer = async {
        while let Some(bytes) = out_rx.recv().await {
            if split {
                let mut rest = bytes.as_slice();
                while !rest.is_empty() {
                    let n = fastrand::usize(1..=rest.len().min(16));
                    pty.write_all(&rest[..n]).await?;
                    rest = &rest[n..];
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            } else {
                pty.write_all(&bytes).await?;
            }
        }
        anyhow::Ok(())
    };
    let reader = read_commands(pty, &module, sim.opts.family);
    tokio::try_join!(writer, reader).map(|_| ())
}

/// Feeds the host's bytes to the module until the pty fails.
async fn read_commands(pty: &Pty, module: &Arc<Module>, family: Family) -> Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = pty.read(&mut chunk).await?;
        buf.extend_from_slice(&chunk[..n]);
        while let Some(input) = parse_input(&mut buf, family) {
            module.handle(input);
        }
        if buf.len() > 8192 {
            tracing::warn!("discarding {} bytes of input without a line end", buf.len());
            buf.clear();
        }
    }
}
