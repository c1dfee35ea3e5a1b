//! Questions on the terminal for the interactive `add-house` / `add-building`: a flag that was
//! given is never asked; a password is read without echo.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Context, Result};
use nix::sys::termios::{self, LocalFlags, SetArg};

/// Asks on the terminal, unless told not to (`--non-interactive`) or stdin is no terminal:
/// then a missing value takes its default or is an error naming it.
pub struct Asker {
    interactive: bool,
}

impl Asker {
    pub fn new(non_interactive: bool) -> Asker {
        Asker {
            interactive: !non_interactive && std::io::stdin().is_terminal(),
        }
    }

    /// The flag's value, or else an answer to `question` (with `default` on an empty answer).
    pub fn value(
        &self,
        given: Option<String>,
        flag: &str,
        question: &str,
        default: Option<&str>,
    ) -> Result<String> {
        if let Some(v) = given {
            return Ok(v);
        }
        if !self.interactive {
            return match default {
                Some(d) => Ok(d.to_string()),
                None => bail!("{flag} is required"),
            };
        }
        ask(question, default)
    }

    /// An optional value: empty answer = none.
    pub fn optional(&self, given: Option<String>, question: &str) -> Result<Option<String>> {
        if given.is_some() || !self.interactive {
            return Ok(given);
        }
        eprint!("{question} (empty to skip): ");
        std::io::stderr().flush()?;
        let answer = read_line()?;
        Ok((!answer.is_empty()).then_some(answer))
    }

    /// The password: from the first line of stdin with `from_stdin`, from the flag, or asked
    /// for without echo.
    pub fn password(&self, given: Option<String>, from_stdin: bool) -> Result<String> {
        if from_stdin {
            let line = read_line().context("reading the password from stdin")?;
            if line.is_empty() {
                bail!("--password-stdin: stdin has no password");
            }
            return Ok(line);
        }
        if let Some(p) = given {
            return Ok(p);
        }
        if !self.interactive {
            bail!("a password is required: use --password-stdin (or --password)");
        }
        hidden("Password (not shown)")
    }
}

fn ask(question: &str, default: Option<&str>) -> Result<String> {
    match default {
        Some(d) => eprint!("{question} [{d}]: "),
        None => eprint!("{question}: "),
    }
    std::io::stderr().flush()?;
    let answer = read_line()?;
    match (answer.is_empty(), default) {
        (true, Some(d)) => Ok(d.to_string()),
        (true, None) => bail!("{question} is required"),
        (false, _) => Ok(answer),
    }
}

/// A line read with echo off.
fn hidden(question: &str) -> Result<String> {
    let stdin = std::io::stdin();
    eprint!("{question}: ");
    std::io::stderr().flush()?;
    let saved = termios::tcgetattr(&stdin).context("reading the terminal mode")?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    termios::tcsetattr(&stdin, SetArg::TCSANOW, &quiet).context("turning echo off")?;
    let line = read_line();
    termios::tcsetattr(&stdin, SetArg::TCSANOW, &saved).context("turning echo back on")?;
    eprintln!();
    let line = line?;
    if line.is_empty() {
        bail!("the password is empty");
    }
    Ok(line)
}

fn read_line() -> Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
