//! A real pseudo-terminal: the module's side is the master, the worker opens the slave path.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use anyhow::{Context, Result};
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
use tokio::io::unix::AsyncFd;

pub struct Pty {
    master: AsyncFd<OwnedFd>,
    /// Held open so that the master never reads EIO while no client has the port open.
    _slave: OwnedFd,
    pub path: PathBuf,
}

impl Pty {
    pub fn open() -> Result<Pty> {
        let pty = nix::pty::openpty(None, None).context("openpty")?;
        // Raw: no echo, no line editing, no CR/LF translation by the line discipline.
        let mut termios = tcgetattr(&pty.slave)?;
        cfmakeraw(&mut termios);
        tcsetattr(&pty.slave, SetArg::TCSANOW, &termios)?;
        let path = nix::unistd::ttyname(&pty.slave).context("ttyname of the pty")?;
        let flags = OFlag::from_bits_truncate(fcntl(&pty.master, FcntlArg::F_GETFL)?);
        fcntl(&pty.master, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
        // SAFETY: the fd is owned by the AsyncFd from here on and closed only when it drops.
        let master = unsafe { AsyncFd::register(pty.master) }
            .map_err(|e| anyhow::anyhow!("registering the pty with the reactor: {e}"))?;
        Ok(Pty {
            master,
            _slave: pty.slave,
            path,
        })
    }

    pub async fn read(&self, buf: &mut [u8]) -> Result<usize> {
        loop {
            let mut guard = self.master.readable().await?;
            match guard.try_io(|fd| Ok(nix::unistd::read(fd.get_ref().as_fd(), buf)?)) {
                Ok(result) => return Ok(result?),
                Err(_would_block) => continue,
            }
        }
    }

    pub async fn write_all(&self, mut bytes: &[u8]) -> Result<()> {
        while !bytes.is_empty() {
            let mut guard = self.master.writable().await?;
            match guard.try_io(|fd| Ok(nix::unistd::write(fd.get_ref().as_fd(), bytes)?)) {
                Ok(n) => bytes = &bytes[n?..],
                Err(_would_block) => continue,
            }
        }
        Ok(())
    }
}
