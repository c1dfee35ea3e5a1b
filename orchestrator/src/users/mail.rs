//! Sending e-mail: `[email]` in `hemflux.toml`, the SMTP password from `.env`
//! (`HEMFLUX_SMTP_PASSWORD`), lettre on tokio with rustls for STARTTLS.

use std::time::Duration;

use anyhow::{Context, Result};
use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;

/// The `.env` key of the SMTP password.
pub const PASSWORD_KEY: &str = "HEMFLUX_SMTP_PASSWORD";

/// `[email]`: where notifications are sent from. Without this section none are sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    /// The sender, `hemflux@example.com` or `hemflux <hemflux@example.com>`.
    pub from: String,
    /// Upgrade the connection with STARTTLS (required when on; off only for a relay on the
    /// same machine or network that you trust).
    #[serde(default = "yes")]
    pub starttls: bool,
    /// SMTP user name; with it, the password comes from `.env` `HEMFLUX_SMTP_PASSWORD`.
    #[serde(default)]
    pub username: Option<String>,
    /// "An entity without data": no new point for this many hours (fractions allowed).
    #[serde(default = "default_no_data_hours")]
    pub no_data_hours: f64,
    /// How often worker states, data times and building alarms are looked at.
    #[serde(default = "default_check_secs")]
    pub check_secs: u64,
    /// This server's address as users reach it, for links in the messages.
    #[serde(default)]
    pub base_url: Option<String>,
}

fn default_port() -> u16 {
    587
}
fn yes() -> bool {
    true
}
fn default_no_data_hours() -> f64 {
    6.0
}
fn default_check_secs() -> u64 {
    60
}

impl EmailSettings {
    /// Errors name the key: `[email] from = ...`, so that `hemflux check` points at the line.
    pub fn validate(&self) -> Result<()> {
        if self.host.trim().is_empty() {
            anyhow::bail!("[email] host is empty");
        }
        if self.port == 0 {
            anyhow::bail!("[email] port = 0: give the SMTP server's port (587, 465 or 25)");
        }
        self.from.parse::<Mailbox>().with_context(|| {
            format!(
                "[email] from = {:?} is not an e-mail address (like `hemflux <hemflux@example.com>`)",
                self.from
            )
        })?;
        if !(self.no_data_hours.is_finite() && self.no_data_hours > 0.0) {
            anyhow::bail!(
                "[email] no_data_hours = {} must be a number of hours above 0",
                self.no_data_hours
            );
        }
        if self.check_secs == 0 {
            anyhow::bail!("[email] check_secs = 0 must be at least 1");
        }
        Ok(())
    }
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("{0:?} is not an e-mail address")]
    Address(String, #[source] lettre::address::AddressError),
    #[error("cannot build the message")]
    Message(#[from] lettre::error::Error),
    #[error("sending e-mail to {to}")]
    Smtp {
        to: String,
        #[source]
        source: lettre::transport::smtp::Error,
    },
}

impl MailError {
    /// Whether trying again may help: not after the server refused the message for good (5xx),
    /// nor for a message that cannot be built.
    pub fn is_retryable(&self) -> bool {
        match self {
            MailError::Smtp { source, .. } => !source.is_permanent(),
            MailError::Address(..) | MailError::Message(_) => false,
        }
    }
}

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(s: &EmailSettings, password: Option<String>) -> Result<Mailer> {
        let from: Mailbox = s
            .from
            .parse()
            .with_context(|| format!("[email] from = {:?} is not an e-mail address", s.from))?;
        let mut builder = if s.starttls {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)
                .with_context(|| format!("[email] host = {:?}", s.host))?
        } else {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)
        };
        builder = builder.port(s.port).timeout(Some(Duration::from_secs(30)));
        if let Some(user) = &s.username {
            let password = password.with_context(|| {
                format!("[email] username is set but {PASSWORD_KEY} is not in .env")
            })?;
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(Mailer {
            transport: builder.build(),
            from,
        })
    }

    pub async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), MailError> {
        let message = Message::builder()
            .from(self.from.clone())
            .to(to.parse().map_err(|e| MailError::Address(to.into(), e))?)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_string())?;
        self.transport
            .send(message)
            .await
            .map_err(|source| MailError::Smtp {
                to: to.into(),
                source,
            })?;
        Ok(())
    }
}
