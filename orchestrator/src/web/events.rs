//! `/events`: server-sent events that keep the overview live. Every two seconds the rows and the
//! sinks' summary are rendered again and sent when they changed (event `overview`: JSON `{rows, sinks}`).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};

use super::i18n::Lang;
use super::overview::{load, rows_html, sinks_html, LangQuery};
use crate::auth::{PageUser, Principal};
use crate::http::AppState;

const EVERY: Duration = Duration::from_secs(2);

pub async fn stream(
    PageUser(who): PageUser,
    State(state): State<AppState>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::from_request(q.lang.as_deref(), &headers);
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
}

fn updates(
    state: AppState,
    who: Principal,
    lang: Lang,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let feed = Feed {
        state,
        who,
        lang,
        last: String::new(),
        first: true,
    };
    stream::unfold(feed, |mut feed| async move {
        loop {
            if !feed.first {
                tokio::time::sleep(EVERY).await;
            }
            feed.first = false;
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
