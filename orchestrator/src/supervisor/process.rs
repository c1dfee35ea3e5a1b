//! Starting and reaping worker processes.
//!
//! Workers are forked from one long-lived thread, because PR_SET_PDEATHSIG fires when the
//! *thread* that forked exits, and tokio's threads come and go. Each worker leads its own process
//! group, so a stop reaches its children too. All exits, of workers and of orphans reparented to
//! us (as PID 1 or as child subreaper), are collected by one `waitpid(-1)` loop on SIGCHLD.

use std::path::PathBuf;
use std::process::Stdio;

use anyhow::{Context, Result};
use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tokio::sync::{mpsc, oneshot};

pub struct SpawnRequest {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The whole environment of the worker: nothing of the orchestrator's leaks in.
    pub env: Vec<(String, String)>,
}

pub struct Spawned {
    pub pid: i32,
    pub stdin: tokio::process::ChildStdin,
    pub stdout: tokio::process::ChildStdout,
    pub stderr: tokio::process::ChildStderr,
}

type Job = (SpawnRequest, oneshot::Sender<std::io::Result<Spawned>>);

/// The handle to the spawner thread.
#[derive(Clone)]
pub struct Launcher {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl Launcher {
    /// Starts the spawner thread. Must be called inside a tokio runtime (the pipes are
    /// registered with it).
    pub fn start() -> Result<Launcher> {
        // Orphans of our workers become our children, so they are reaped and cannot escape.
        nix::sys::prctl::set_child_subreaper(true).context("PR_SET_CHILD_SUBREAPER")?;
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let runtime = tokio::runtime::Handle::current();
        std::thread::Builder::new()
            .name("hemflux-spawner".into())
            .spawn(move || {
                let _guard = runtime.enter();
                for (req, reply) in rx {
                    let _ = reply.send(spawn(req));
                }
            })
            .context("starting the spawner thread")?;
        Ok(Launcher { jobs: tx })
    }

    pub async fn spawn(&self, req: SpawnRequest) -> std::io::Result<Spawned> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send((req, tx))
            .map_err(|_| std::io::Error::other("spawner thread is gone"))?;
        rx.await
            .map_err(|_| std::io::Error::other("spawner thread is gone"))?
    }
}

fn spawn(req: SpawnRequest) -> std::io::Result<Spawned> {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(&req.program);
    cmd.args(&req.args)
        .env_clear()
        .envs(req.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let parent = std::process::id() as i32;
    // SAFETY: only async-signal-safe calls (setpgid, close_range, prctl, getppid) between fork
    // and exec.
    unsafe {
        cmd.pre_exec(move || {
            nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
            // Hand the worker only its three pipes, not what the orchestrator inherited (a
            // shell's or a CI runner's descriptors). Best effort: kernels before 5.11 lack it.
            nix::libc::close_range(3, u32::MAX, nix::libc::CLOSE_RANGE_CLOEXEC as i32);
            // SIGTERM, not SIGKILL: a worker that must finish first (a house worker putting the
            // user's heat curve back) handles it within its stop deadline; any other dies of it.
            nix::sys::prctl::set_pdeathsig(Signal::SIGTERM)?;
            // The orchestrator may have died between fork and prctl.
            if nix::unistd::getppid().as_raw() != parent {
                return Err(std::io::Error::other("orchestrator exited during spawn"));
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    let pid = child.id() as i32;
    let take = |what| std::io::Error::other(format!("child {what} not piped"));
    Ok(Spawned {
        pid,
        stdin: tokio::process::ChildStdin::from_std(
            child.stdin.take().ok_or_else(|| take("stdin"))?,
        )?,
        stdout: tokio::process::ChildStdout::from_std(
            child.stdout.take().ok_or_else(|| take("stdout"))?,
        )?,
        stderr: tokio::process::ChildStderr::from_std(
            child.stderr.take().ok_or_else(|| take("stderr"))?,
        )?,
    })
    // `child` is dropped without waiting: the reaper collects its exit status.
}

/// How a process ended.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    pub pid: i32,
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.code, self.signal) {
            (Some(c), _) => write!(f, "exited with status {c}"),
            (_, Some(s)) => write!(f, "killed by signal {s}"),
            _ => write!(f, "ended"),
        }
    }
}

/// Reaps every child that exits (workers and adopted orphans alike) and reports each exit.
pub fn start_reaper(exits: mpsc::UnboundedSender<Exit>) -> Result<()> {
    let mut sigchld = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())
        .context("installing the SIGCHLD handler")?;
    tokio::spawn(async move {
        loop {
            reap_all(&exits);
            // Signals coalesce; the periodic sweep also catches one that raced the handler.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), sigchld.recv()).await;
        }
    });
    Ok(())
}

fn reap_all(exits: &mpsc::UnboundedSender<Exit>) {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => {
                let _ = exits.send(Exit {
                    pid: pid.as_raw(),
                    code: Some(code),
                    signal: None,
                });
            }
            Ok(WaitStatus::Signaled(pid, sig, _)) => {
                let _ = exits.send(Exit {
                    pid: pid.as_raw(),
                    code: None,
                    signal: Some(sig as i32),
                });
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Signals a worker's whole process group; a group that is already gone is not an error.
pub fn signal_group(pid: i32, signal: Signal) {
    let _ = killpg(Pid::from_raw(pid), signal);
}
