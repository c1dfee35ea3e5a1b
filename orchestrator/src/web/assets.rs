//! The embedded static files: our script and style, and the vendored uPlot
//! (`orchestrator/assets/vendor/uplot/VERSION` says which release and where from).
//!
//! Each is served with an ETag (a hash of its bytes). Linked as `/assets/<name>?v=<etag>`, a
//! browser may keep it for a year (a new binary with a changed file links a new URL); without
//! `?v=` (the account pages link `/assets/app.css`) it asks again each time and gets a 304.

use std::sync::LazyLock;

use axum::extract::{Path, RawQuery};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
    etag: String,
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    [
        (
            "app.js",
            "text/javascript; charset=utf-8",
            include_bytes!("../../assets/app.js").as_slice(),
        ),
        (
            "app.css",
            "text/css; charset=utf-8",
            include_bytes!("../../assets/app.css").as_slice(),
        ),
        (
            "uPlot.iife.min.js",
            "text/javascript; charset=utf-8",
            include_bytes!("../../assets/vendor/uplot/uPlot.iife.min.js").as_slice(),
        ),
        (
            "uPlot.min.css",
            "text/css; charset=utf-8",
            include_bytes!("../../assets/vendor/uplot/uPlot.min.css").as_slice(),
        ),
    ]
    .into_iter()
    .map(|(name, content_type, bytes)| Asset {
        name,
        content_type,
        bytes,
        etag: format!("\"{:016x}\"", fnv1a(bytes)),
    })
    .collect()
});

/// FNV-1a, 64 bits: enough to tell versions of a file apart (not a security boundary).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// The URL of an embedded file, versioned by its content.
pub fn url(name: &'static str) -> String {
    let etag = find(name).map_or("", |a| a.etag.trim_matches('"'));
    format!("/assets/{name}?v={etag}")
}

pub async fn serve(
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some(asset) = find(&name) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let versioned = query.is_some_and(|q| q == format!("v={}", asset.etag.trim_matches('"')));
    let cache = [
        (header::ETAG, asset.etag.clone()),
        (
            header::CACHE_CONTROL,
            if versioned {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            }
            .to_string(),
        ),
    ];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == asset.etag));
    if fresh {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (
        cache,
        [(header::CONTENT_TYPE, asset.content_type)],
        asset.bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn etag_and_not_modified() {
        let versioned = url("app.js").split_once('?').unwrap().1.to_string();
        let resp = serve(
            Path("app.js".into()),
            RawQuery(Some(versioned)),
            HeaderMap::new(),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.headers()[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("immutable"));
        let etag = resp.headers()[header::ETAG].clone();
        assert!(url("app.js").ends_with(etag.to_str().unwrap().trim_matches('"')));
        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, etag);
        let resp = serve(Path("app.js".into()), RawQuery(None), again).await;
        assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-cache");
        let missing = serve(
            Path("../Cargo.toml".into()),
            RawQuery(None),
            HeaderMap::new(),
        )
        .await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    }
}
