//! `hemflux user add|list|remove|passwd|assign`: accounts from the command line, on the data
//! folder's `users.sqlite` (a running orchestrator sees the changes at once). Passwords come
//! from stdin, one line, never from the command line.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde_json::json;

use super::{audit, Role, SessionSettings, Users};

#[derive(clap::Subcommand, Debug)]
pub enum UserCommand {
    /// Add an account; the password is read from stdin (one line).
    Add {
        name: String,
        #[arg(long)]
        role: Role,
        /// Where notifications go.
        #[arg(long, default_value = "")]
        email: String,
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// List the accounts.
    List {
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// Remove an account (its sessions end at once).
    Remove {
        name: String,
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// Set a new password, read from stdin (one line); the account's sessions end.
    Passwd {
        name: String,
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// Set the houses, buildings and meters an account sees (worker ids; none: nothing).
    Assign {
        name: String,
        entities: Vec<String>,
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
}

/// Who the audit log names for a change from the command line.
const WHO: &str = "cli";

pub fn run(cmd: UserCommand) -> Result<()> {
    match cmd {
        UserCommand::Add {
            name,
            role,
            email,
            data,
        } => {
            let users = open(&data)?;
            let pw = password_from_stdin()?;
            users.add_user(&name, &pw, role, &email)?;
            audit::record_as(
                &users,
                WHO,
                &format!("add {name}"),
                None,
                Some(json!({"role": role, "email": email})),
            )?;
            println!("added {name} ({})", role.as_str());
        }
        UserCommand::List { data } => {
            let users = open(&data)?;
            println!(
                "{:<24} {:<8} {:<8} {:<28} ENTITIES",
                "NAME", "ROLE", "STATUS", "E-MAIL"
            );
            for a in users.accounts()? {
                println!(
                    "{:<24} {:<8} {:<8} {:<28} {}",
                    a.name,
                    if a.pending { "-" } else { a.role.as_str() },
                    if a.pending { "pending" } else { "active" },
                    if a.email.is_empty() { "-" } else { &a.email },
                    a.entities.join(" ")
                );
            }
        }
        UserCommand::Remove { name, data } => {
            let users = open(&data)?;
            let before = users.remove(&name)?;
            audit::record_as(
                &users,
                WHO,
                &format!("remove {name}"),
                Some(json!({"role": before.role, "entities": before.entities})),
                None,
            )?;
            println!("removed {name}");
        }
        UserCommand::Passwd { name, data } => {
            let users = open(&data)?;
            let pw = password_from_stdin()?;
            users.set_password(&name, &pw)?;
            audit::record_as(&users, WHO, &format!("password {name}"), None, None)?;
            println!("new password for {name}; their sessions ended");
        }
        UserCommand::Assign {
            name,
            entities,
            data,
        } => {
            let users = open(&data)?;
            let before = users.assign(&name, &entities)?;
            audit::record_as(
                &users,
                WHO,
                &format!("assign {name}"),
                Some(json!({"entities": before.entities})),
                Some(json!({"entities": entities})),
            )?;
            println!("{name} sees: {}", entities.join(" "));
        }
    }
    Ok(())
}

fn open(data: &std::path::Path) -> Result<Users> {
    if !data.is_dir() {
        bail!(
            "data folder {} does not exist (pass --data, the folder `hemflux run` uses)",
            data.display()
        );
    }
    Users::open(data, SessionSettings::default())
}

/// One line from stdin, without its line break; refused when empty or short.
fn password_from_stdin() -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    let pw = line.trim_end_matches(['\n', '\r']).to_string();
    if pw.is_empty() {
        bail!("no password on stdin: pipe one line, such as `printf '%s\\n' \"$PW\" | hemflux user add ...`");
    }
    super::password::check_strength(&pw)?;
    Ok(pw)
}
