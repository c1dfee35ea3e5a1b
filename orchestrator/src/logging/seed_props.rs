//! The properties the seed put on every Seq event about a house or building, so that saved Seq
//! queries and alerts keep matching: `ClientId` (the entity id), `ClientIdShort`,
//! `FriendlyName`, `DisplayName` and `Username`. The orchestrator's config watcher keeps the
//! table current; the Seq layer reads it for each event that names a worker.

use std::collections::BTreeMap;
use std::sync::RwLock;

use serde_json::{Map, Value};

/// What the config files and `.env` say about one house or building.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntityInfo {
    /// The file's `name` (the seed's `friendly_name`, which `hemflux migrate` carries over).
    pub name: String,
    /// The vendor login (`HOUSE_<id>_USERNAME`): an account name the seed logged, not a secret.
    pub username: Option<String>,
}

static ENTITIES: RwLock<BTreeMap<String, EntityInfo>> = RwLock::new(BTreeMap::new());

/// Replaces the table (entity id → info).
pub fn set_entities(entities: BTreeMap<String, EntityInfo>) {
    *ENTITIES.write().unwrap_or_else(|e| e.into_inner()) = entities;
}

/// Adds the seed's properties for the entity of `worker` (`house:villa_12`,
/// `meter:villa_12/el` → `villa_12`); nothing for a worker that serves no single entity.
pub(super) fn add(event: &mut Map<String, Value>, worker: &str) {
    let Some((_, rest)) = worker.split_once(':') else {
        return;
    };
    let id = rest.split('/').next().unwrap_or(rest);
    event.insert("ClientId".into(), id.into());
    event.insert("ClientIdShort".into(), short_id(id).into());
    let table = ENTITIES.read().unwrap_or_else(|e| e.into_inner());
    let info = table.get(id);
    let name = info.map(|i| i.name.as_str()).filter(|n| !n.is_empty());
    event.insert("FriendlyName".into(), name.unwrap_or(id).into());
    event.insert("DisplayName".into(), name.unwrap_or(id).into());
    if let Some(username) = info.and_then(|i| i.username.as_deref()) {
        event.insert("Username".into(), username.into());
    }
}

/// The id without the seed's `<company>_<kind>_` prefix (`HEM_FJV_Villa_149` → `Villa_149`);
/// an id of fewer parts as it is.
fn short_id(id: &str) -> &str {
    let mut parts = id.splitn(3, '_');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(_), Some(rest)) if !rest.is_empty() => rest,
        _ => id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_short_id_drops_the_company_and_kind() {
        assert_eq!(short_id("HEM_FJV_Villa_149"), "Villa_149");
        assert_eq!(short_id("TE236_HEM_Kontor"), "Kontor");
        assert_eq!(short_id("villa_12"), "villa_12");
        assert_eq!(short_id("a__"), "a__");
    }
}
