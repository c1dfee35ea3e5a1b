//! What every HTTP simulator shares: binding, the `LISTENING` line, and shutdown.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use axum::response::{IntoResponse, Response};
use axum::Router;

/// Binds `listen` (port 0 picks a free port), prints `LISTENING http://ADDR`, and serves until
/// stdin closes or the process is signalled, so a test that dies takes its simulator with it.
pub async fn serve(router: Router, listen: SocketAddr) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    println!("LISTENING http://{addr}");
    axum::serve(listener, router)
        .with_graceful_shutdown(stdin_closed())
        .await?;
    Ok(())
}

/// An answer that ends a request early (boxed: responses are large), so that a handler's
/// checks chain with `?`.
pub struct Rejected(Box<Response>);

impl From<Response> for Rejected {
    fn from(answer: Response) -> Self {
        Rejected(Box::new(answer))
    }
}

impl IntoResponse for Rejected {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// A handler's answer: a refusal is the `Err`.
pub type Answer = Result<Response, Rejected>;

/// Resolves when stdin reaches EOF (the parent is gone) or SIGTERM/SIGINT arrives.
pub async fn stdin_closed() {
    use tokio::io::AsyncReadExt;
    let eof = async {
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 256];
        while let Ok(n) = stdin.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = eof => {}
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// Fault injection `--X-every K`: which hit call number `n` (counted from 1) is, 1 for the
/// Kth call, 2 for the 2Kth, ...; `None` between hits and when the knob is unset or 0.
pub fn every(n: u64, knob: Option<u64>) -> Option<u64> {
    knob.filter(|&k| k > 0 && n.is_multiple_of(k))
        .map(|k| n / k)
}

/// A simulator's clock: starts at `--clock` (default now) and runs `--time-scale` times faster
/// than real time, so tests get deterministic, fast-evolving values.
#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    start: jiff::Timestamp,
    real_start: std::time::Instant,
    scale: f64,
}

impl SimClock {
    pub fn new(start: Option<jiff::Timestamp>, scale: f64) -> Self {
        SimClock {
            start: start.unwrap_or_else(jiff::Timestamp::now),
            real_start: std::time::Instant::now(),
            scale,
        }
    }

    pub fn now(&self) -> jiff::Timestamp {
        let elapsed = self.real_start.elapsed().as_secs_f64() * self.scale;
        let nanos = self.start.as_nanosecond() + (elapsed * 1e9) as i128;
        jiff::Timestamp::from_nanosecond(nanos).unwrap_or(self.start)
    }
}

/// A simulator's arguments from a command line (`argv[0]` first), for unit tests.
#[cfg(test)]
pub fn parse_args<A: clap::Args>(argv: &[&str]) -> A {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli<T: clap::Args> {
        #[command(flatten)]
        args: T,
    }
    Cli::<A>::parse_from(argv).args
}

#[cfg(test)]
mod tests {
    use super::every;

    #[test]
    fn every_kth_call_is_a_hit_counted_from_one() {
        let hits: Vec<_> = (1..=7).map(|n| every(n, Some(3))).collect();
        assert_eq!(hits, [None, None, Some(1), None, None, Some(2), None]);
        assert_eq!(every(1, Some(1)), Some(1));
        assert_eq!(every(3, None), None, "unset: no faults");
        assert_eq!(every(3, Some(0)), None, "0: no faults");
    }
}
