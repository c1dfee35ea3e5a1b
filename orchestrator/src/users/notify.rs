//! E-mail notifications. Every `[email] check_secs` the orchestrator looks at its workers and
//! the store and tells each user who chose the event and may see the entity: a worker entering
//! `failed`; an entity whose newest point is older than `no_data_hours`; a building whose
//! `building_alarms.count_alarmed` rises above 0 while hemflux runs. A registration waiting
//! is told to the admins who chose it, at once. Each condition is told once, and again only
//! after it has cleared. A message the server does not take is tried again (5 attempts, from
//! 5 s doubling), except when the server refuses it for good (a 5xx answer).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use hemflux_shared::retry::RetryPolicy;
use hemflux_shared::{FieldValue, Point};
use serde::Serialize;
use tokio::sync::mpsc;

use super::accounts::Account;
use super::mail::Mailer;
use super::Users;
use crate::auth::{Principal, SessionUser};
use crate::store::{RangeQuery, Store};
use crate::supervisor::{Request, WorkerState, WorkerView};
use crate::web::i18n::Lang;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    WorkerFailed,
    NoData,
    BuildingAlarm,
    Registration,
}

impl Event {
    pub const ALL: [Event; 4] = [
        Event::WorkerFailed,
        Event::NoData,
        Event::BuildingAlarm,
        Event::Registration,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::WorkerFailed => "worker_failed",
            Event::NoData => "no_data",
            Event::BuildingAlarm => "building_alarm",
            Event::Registration => "registration",
        }
    }

    pub fn parse(s: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.as_str() == s)
    }

    pub(crate) fn label(self, lang: Lang) -> &'static str {
        lang.t(match self {
            Event::WorkerFailed => "event_worker_failed",
            Event::NoData => "event_no_data",
            Event::BuildingAlarm => "event_building_alarm",
            Event::Registration => "event_registration",
        })
    }
}

/// Something to tell: about an entity (those who may see it) or, without one, admins only.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub event: Event,
    pub entity: Option<String>,
    pub subject: String,
    pub body: String,
}

/// The handle that queues notices for sending.
#[derive(Clone)]
pub struct Notifier {
    tx: mpsc::UnboundedSender<Notice>,
}

impl Notifier {
    pub fn registration(&self, name: &str) {
        let _ = self.tx.send(Notice {
            event: Event::Registration,
            entity: None,
            subject: format!("hemflux: {name} registered and waits for approval"),
            body: format!("{name} registered. Approve or reject the account under /admin/users.\n"),
        });
    }
}

/// The accounts a notice goes to: active, with an address, who chose the event and may see it.
pub fn recipients(accounts: &[Account], notice: &Notice) -> Vec<String> {
    accounts
        .iter()
        .filter(|a| !a.pending && !a.email.is_empty() && a.notify.contains(&notice.event))
        .filter(|a| {
            let p = Principal::User(SessionUser {
                name: a.name.clone(),
                role: a.role,
                csrf: String::new(),
                entities: a.entities.iter().cloned().collect(),
            });
            match &notice.entity {
                Some(e) => p.can_see(e),
                None => p.is_admin(),
            }
        })
        .map(|a| a.email.clone())
        .collect()
}

const SEND_RETRY: RetryPolicy = RetryPolicy {
    initial: Duration::from_secs(5),
    factor: 2,
    cap: Duration::from_secs(300),
    jitter: 0.25,
};
const SEND_ATTEMPTS: u32 = 5;

/// Starts sending, and watching the workers and the store; the handle for direct notices.
pub fn start(
    users: Users,
    mailer: Mailer,
    settings: super::mail::EmailSettings,
    supervisor: mpsc::Sender<Request>,
    store: Store,
) -> Notifier {
    let (tx, mut rx) = mpsc::unbounded_channel::<Notice>();
    let sender_users = users.clone();
    let link = settings.base_url.clone().unwrap_or_default();
    tokio::spawn(async move {
        while let Some(notice) = rx.recv().await {
            let accounts = match sender_users.accounts() {
                Ok(a) => a,
                Err(e) => {
                    tracing::error!("notification not sent, reading the accounts: {e:#}");
                    continue;
                }
            };
            let body = if link.is_empty() {
                notice.body.clone()
            } else {
                format!("{}\n{link}\n", notice.body)
            };
            for to in recipients(&accounts, &notice) {
                tokio::spawn(send(
                    mailer.clone(),
                    to,
                    notice.subject.clone(),
                    body.clone(),
                    notice.event,
                ));
            }
        }
    });
    let notifier = Notifier { tx: tx.clone() };
    tokio::spawn(watch(settings, supervisor, store, tx));
    notifier
}

/// Sends one message, trying again after temporary failures.
async fn send(mailer: Mailer, to: String, subject: String, body: String, event: Event) {
    let event = event.as_str();
    let mut backoff = SEND_RETRY.backoff();
    for attempt in 1..=SEND_ATTEMPTS {
        match mailer.send(&to, &subject, &body).await {
            Ok(()) => {
                tracing::info!(to, event, "notification sent");
                return;
            }
            Err(e) if attempt < SEND_ATTEMPTS && e.is_retryable() => {
                let e = anyhow::Error::new(e);
                tracing::warn!(event, attempt, "{e:#} (trying again)");
                tokio::time::sleep(backoff.next_delay()).await;
            }
            Err(e) => {
                let e = anyhow::Error::new(e);
                tracing::error!(event, attempt, "{e:#} (given up)");
                return;
            }
        }
    }
}

async fn watch(
    settings: super::mail::EmailSettings,
    supervisor: mpsc::Sender<Request>,
    store: Store,
    tx: mpsc::UnboundedSender<Notice>,
) {
    let mut watcher = Watcher::new(Duration::from_secs_f64(settings.no_data_hours * 3600.0));
    let mut tick = tokio::time::interval(Duration::from_secs(settings.check_secs.max(1)));
    loop {
        tick.tick().await;
        let (reply, rx) = tokio::sync::oneshot::channel();
        if supervisor.send(Request::Snapshot { reply }).await.is_err() {
            return;
        }
        let Ok(snapshot) = rx.await else { return };
        let now = jiff::Timestamp::now();
        let mut notices = watcher.workers(&snapshot.workers, now);
        let since = now.as_nanosecond() as i64 - 3_600_000_000_000;
        let read = store
            .reader()
            .and_then(|r| r.points(&RangeQuery::new("building_alarms").between(Some(since), None)));
        match read {
            Ok(points) => notices.extend(watcher.alarms(&points)),
            Err(e) => tracing::warn!("reading building alarms for notifications: {e:#}"),
        }
        for n in notices {
            if tx.send(n).is_err() {
                return;
            }
        }
    }
}

/// What has been told already, so that each condition is told once.
pub struct Watcher {
    no_data_after: Duration,
    failed: BTreeSet<String>,
    silent: BTreeSet<String>,
    /// Per building: time of the newest alarm point seen and its `count_alarmed`.
    alarms: BTreeMap<String, (i64, i64)>,
    primed: bool,
}

impl Watcher {
    pub fn new(no_data_after: Duration) -> Watcher {
        Watcher {
            no_data_after,
            failed: BTreeSet::new(),
            silent: BTreeSet::new(),
            alarms: BTreeMap::new(),
            primed: false,
        }
    }

    pub fn workers(&mut self, workers: &[WorkerView], now: jiff::Timestamp) -> Vec<Notice> {
        let mut out = Vec::new();
        for w in workers {
            if w.state == WorkerState::Failed {
                if self.failed.insert(w.id.clone()) {
                    out.push(Notice {
                        event: Event::WorkerFailed,
                        entity: Some(w.id.clone()),
                        subject: format!("hemflux: {} has failed", w.id),
                        body: format!(
                            "The worker {} has failed after {} restarts.\nError: {}\n",
                            w.id,
                            w.restarts,
                            w.last_error.as_deref().unwrap_or("(none reported)")
                        ),
                    });
                }
            } else {
                self.failed.remove(&w.id);
            }
            let last = w
                .last_data_time
                .as_deref()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok());
            let stale = last.is_some_and(|t| {
                now.duration_since(t).unsigned_abs() >= self.no_data_after && t < now
            });
            if stale {
                if self.silent.insert(w.id.clone()) {
                    let hours = self.no_data_after.as_secs_f64() / 3600.0;
                    out.push(Notice {
                        event: Event::NoData,
                        entity: Some(w.id.clone()),
                        subject: format!("hemflux: no data from {} for {hours} h", w.id),
                        body: format!(
                            "{} has sent no data since {}.\n",
                            w.id,
                            w.last_data_time.as_deref().unwrap_or("?")
                        ),
                    });
                }
            } else {
                self.silent.remove(&w.id);
            }
        }
        out
    }

    /// Alarm points (any order); the first call only learns the current state.
    pub fn alarms(&mut self, points: &[Point]) -> Vec<Notice> {
        let mut points: Vec<&Point> = points.iter().collect();
        points.sort_by_key(|p| p.time);
        let mut out = Vec::new();
        for p in points {
            let (Some(building), Some(count)) = (
                p.tags.get("building_id"),
                match p.fields.get("count_alarmed") {
                    Some(FieldValue::Int(n)) => Some(*n),
                    Some(FieldValue::Float(f)) => Some(*f as i64),
                    _ => None,
                },
            ) else {
                continue;
            };
            let before = self.alarms.get(building).copied();
            if before.is_some_and(|(t, _)| p.time <= t) {
                continue;
            }
            self.alarms.insert(building.clone(), (p.time, count));
            let was = before.map_or(0, |(_, c)| c);
            if self.primed && count > 0 && was == 0 {
                let id = format!("building:{building}");
                out.push(Notice {
                    event: Event::BuildingAlarm,
                    entity: Some(id.clone()),
                    subject: format!("hemflux: {id} raises {count} alarm(s)"),
                    body: format!("{id} reports {count} alarm(s) in state alarmed.\n"),
                });
            }
        }
        self.primed = true;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::Role;

    fn worker(id: &str, state: WorkerState, last: Option<&str>) -> WorkerView {
        WorkerView {
            id: id.into(),
            kind: hemflux_shared::config::WorkerKind::House,
            state,
            pid: None,
            restarts: 5,
            error: None,
            last_error: Some("login refused".into()),
            last_error_at: None,
            last_data_time: last.map(str::to_string),
            points: 0,
            status: None,
            config_files: vec![],
        }
    }

    #[test]
    fn failed_and_silent_told_once_until_cleared() {
        let mut w = Watcher::new(Duration::from_secs(6 * 3600));
        let now: jiff::Timestamp = "2026-01-01T12:00:00Z".parse().unwrap();
        let fresh = Some("2026-01-01T11:00:00Z");
        let old = Some("2026-01-01T05:59:00Z");
        let a = w.workers(&[worker("house:a", WorkerState::Failed, fresh)], now);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].event, Event::WorkerFailed);
        assert!(a[0].body.contains("login refused"));
        assert!(w
            .workers(&[worker("house:a", WorkerState::Failed, fresh)], now)
            .is_empty());
        assert!(w
            .workers(&[worker("house:a", WorkerState::Running, fresh)], now)
            .is_empty());
        assert_eq!(
            w.workers(&[worker("house:a", WorkerState::Failed, fresh)], now)
                .len(),
            1
        );
        let b = w.workers(&[worker("house:b", WorkerState::Running, old)], now);
        assert_eq!((b.len(), b[0].event), (1, Event::NoData));
        assert!(w
            .workers(&[worker("house:b", WorkerState::Running, old)], now)
            .is_empty());
        assert!(w
            .workers(&[worker("house:c", WorkerState::Running, None)], now)
            .is_empty());
    }

    fn alarm(building: &str, t: i64, n: i64) -> Point {
        Point::new("building_alarms", t)
            .tag("building_id", building)
            .field("count_alarmed", FieldValue::Int(n))
    }

    #[test]
    fn alarms_when_the_count_rises_from_zero() {
        let mut w = Watcher::new(Duration::from_secs(3600));
        assert!(
            w.alarms(&[alarm("b1", 1, 2), alarm("b2", 1, 0)]).is_empty(),
            "learning"
        );
        assert!(
            w.alarms(&[alarm("b1", 2, 3)]).is_empty(),
            "b1 was alarming already"
        );
        let n = w.alarms(&[alarm("b2", 3, 1), alarm("b2", 2, 0)]);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].entity.as_deref(), Some("building:b2"));
        assert!(w.alarms(&[alarm("b2", 3, 1)]).is_empty(), "seen");
        assert!(w.alarms(&[alarm("b2", 4, 0)]).is_empty());
        assert_eq!(
            w.alarms(&[alarm("b2", 5, 4)]).len(),
            1,
            "again after clearing"
        );
    }

    #[test]
    fn recipients_choose_and_may_see() {
        let account = |name: &str, role, entities: &[&str], notify: &[Event]| Account {
            name: name.into(),
            role,
            pending: false,
            email: format!("{name}@example.com"),
            entities: entities.iter().map(|e| e.to_string()).collect(),
            notify: notify.to_vec(),
            created: 0,
        };
        let accounts = vec![
            account(
                "admin",
                Role::Admin,
                &[],
                &[Event::WorkerFailed, Event::Registration],
            ),
            account(
                "owner",
                Role::User,
                &["house:a"],
                &[Event::WorkerFailed, Event::Registration],
            ),
            account("other", Role::Viewer, &["house:b"], &[Event::WorkerFailed]),
            account("quiet", Role::User, &["house:a"], &[]),
        ];
        let failed = Notice {
            event: Event::WorkerFailed,
            entity: Some("house:a".into()),
            subject: String::new(),
            body: String::new(),
        };
        assert_eq!(
            recipients(&accounts, &failed),
            ["admin@example.com", "owner@example.com"]
        );
        let reg = Notice {
            event: Event::Registration,
            entity: None,
            ..failed
        };
        assert_eq!(recipients(&accounts, &reg), ["admin@example.com"]);
    }
}
