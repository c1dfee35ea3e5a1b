//! `/events`: server-sent events that keep the overview live. When the store commits or a
//! worker's state changes (at most every [`COALESCE`]), and every [`IDLE`] for the sinks'
//! progress (a sink's cursor is no commit of points), the rows and the sinks' summary are
//! rendered again and sent when they changed (event `overview`: JSON `{rows, sinks}`).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use tokio::sync::watch;
use tokio::time::Instant;

use super::i18n::{Lang, PageLang};
use super::overview::{load, rows_html, sinks_html};
use crate::auth::{PageUser, Principal};
use crate::http::AppState;

use super::live::COALESCE;

/// Without a commit or a state change, the overview is looked at again this often.
const IDLE: Duration = Duration::from_secs(10);

pub async fn stream(
    PageUser(who): PageUser,
    State(state): State<AppState>,
    PageLang { lang, .. }: PageLang,
) -> Response {
    Sse::new(updates(state, who, lang))
        .keep_alive(KeepAlive::default())
        .into_response()
}

struct Feed {
    state: AppState,
    who: Principal,
    lang: Lang,
    last: String,
    first: bool,
    commits: watch::Receiver<u64>,
    states: watch::Receiver<u64>,
    last_look: Instant,
}

impl Feed {
    /// Waits for a commit, a state change or [`IDLE`], then until [`COALESCE`] after the last look.
    async fn next_change(&mut self) {
        tokio::select! {
            _ = self.commits.changed() => {}
            _ = self.states.changed() => {}
            _ = tokio::time::sleep(IDLE) => {}
        }
        tokio::time::sleep_until(self.last_look + COALESCE).await;
        self.commits.mark_unchanged();
        self.states.mark_unchanged();
    }
}

fn updates(
    state: AppState,
    who: Principal,
    lang: Lang,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let feed = Feed {
        commits: state.store.committed(),
        states: state.worker_states.clone(),
        state,
        who,
        lang,
        last: String::new(),
        first: true,
        last_look: Instant::now(),
    };
    stream::unfold(feed, |mut feed| async move {
        loop {
            if !feed.first {
                feed.next_change().await;
            }
            feed.first = false;
            feed.last_look = Instant::now();
            let who = &feed.who;
            let Ok(o) = load(&feed.state, |id| who.can_see(id), who.is_admin()).await else {
                continue;
            };
            let now = serde_json::json!({
                "rows": rows_html(feed.lang, &o.entities),
                "sinks": sinks_html(feed.lang, &o),
            })
            .to_string();
            if now != feed.last {
                feed.last.clone_from(&now);
                return Some((Ok(Event::default().event("overview").data(now)), feed));
            }
        }
    })
}
