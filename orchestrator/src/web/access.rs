//! Who is looking at a page, and what they may do.
//!
//! TEMPORARY bridge until users and sessions land (branch `web-auth`): the holder of the API
//! token may change things; anyone else reaching this server under its own Host may look (as
//! `/api/workers` already allows) and change nothing. When `crate::auth::Principal` gains its
//! user variant and methods, `Visitor` becomes that principal and this file goes.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;

use crate::auth::{Auth, Principal};

pub struct Visitor {
    principal: Option<Principal>,
}

impl Visitor {
    pub fn can_see(&self, _entity_id: &str) -> bool {
        true
    }

    pub fn can_change(&self) -> bool {
        self.principal.is_some()
    }

    pub fn name(&self) -> &str {
        match self.principal {
            Some(Principal::ApiToken) => "api-token",
            None => "guest",
        }
    }

    /// The token a form must carry back (`csrf`); none for the API token, which is never a cookie.
    pub fn csrf_token(&self) -> Option<&str> {
        None
    }

    /// Whether a state-changing request carries this visitor's CSRF token (form field `csrf` or
    /// header `X-CSRF-Token`). A bearer token is not sent by browsers on their own, so it needs none.
    pub fn csrf_ok(&self, presented: Option<&str>) -> bool {
        match self.csrf_token() {
            None => self.principal.is_some(),
            Some(expected) => presented == Some(expected),
        }
    }
}

impl<S> FromRequestParts<S> for Visitor
where
    Auth: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Visitor {
            principal: Principal::from_request_parts(parts, state).await.ok(),
        })
    }
}
