//! The web UI: the fleet at a glance (`/`), one entity's story in charts (`/entity/{id}`), and
//! the data behind them (`/api/overview`, `/api/entity/{id}/series`, `.../figures` (the
//! purpose-built charts), `.../csv`), each meter of `meters.yaml` (`/meter/{id}`, the same
//! routes under `/api/meter/{id}/`), and live updates on `/events` (the overview) and
//! `/events/{entity|meter}/{id}` (new points for the charts), pushed when the store commits. Served by `hemflux run` on its own listener; the pages, the script,
//! the style and the vendored uPlot are embedded in the binary.
//!
//! Every page and data route answers only under this server's own Host (like `/api`), and only
//! about entities the caller may see (`Principal::can_see`). Pages need a signed-in user
//! (else they redirect to `/login`); the data routes also take the API token, and anyone while
//! no user account exists, like `/api/workers` ([`crate::auth::ApiReader`]).

mod assets;
mod comfort;
mod downsample;
mod entity;
mod events;
mod figures;
mod fleet;
pub(crate) mod html;
pub(crate) mod i18n;
mod json_edit;
mod live;
mod meters;
mod offboard;
mod onboard;
mod overview;
mod series;
mod settings;

use axum::routing::{get, post};
use axum::Router;

use crate::http::AppState;
use series::{ENTITY, METER};

// For the benchmark (`benches/web.rs`).
pub use figures::figures;
pub use fleet::overview_model;
pub(crate) use i18n::with_lang_cookie;
pub use i18n::Lang;
pub use overview::rows_html;
pub use series::{entity_series, SeriesRequest, Subject};

/// The web UI's routes; `crate::http::router` merges them.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(overview::page))
        .route("/entity/{id}", get(entity::page))
        .route(
            "/entity/{id}/settings",
            get(settings::edit).post(settings::save),
        )
        .route(
            "/entity/{id}/remove",
            get(offboard::preview).post(offboard::remove),
        )
        .route("/admin/offboarded", get(offboard::list))
        .route(
            "/admin/offboarded/{kind}/{id}/restore",
            post(offboard::restore_one),
        )
        .route(
            "/entity/{id}/control",
            get(comfort::edit).post(comfort::save),
        )
        .route("/web/workers/{*id}", post(entity::restart))
        .route("/api/overview", get(overview::json))
        .route("/meter/{id}", get(entity::meter_page))
        .route("/api/entity/{id}/series", get(series::json::<ENTITY>))
        .route("/api/entity/{id}/figures", get(series::figures::<ENTITY>))
        .route("/api/entity/{id}/csv", get(series::csv::<ENTITY>))
        .route("/api/meter/{id}/series", get(series::json::<METER>))
        .route("/api/meter/{id}/figures", get(series::figures::<METER>))
        .route("/api/meter/{id}/csv", get(series::csv::<METER>))
        .route("/events", get(events::stream))
        .route("/events/entity/{id}", get(live::open::<ENTITY>))
        .route("/events/meter/{id}", get(live::open::<METER>))
        .route("/onboard", get(onboard::start))
        .route("/onboard/verify", post(onboard::verify))
        .route("/onboard/save", post(onboard::save))
        .route("/assets/{name}", get(assets::serve))
        .route_layer(axum::middleware::from_fn_with_state(
            state.auth.clone(),
            crate::auth::same_site_only,
        ))
}
