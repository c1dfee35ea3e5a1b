//! `district_heating:exchange`: the one file exchange with the energy company, serving the
//! `meter_ids` of every house and building.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Kind;
use crate::config::{
    ConfigError, DistrictHeatingConfig, Entity, Exchange, ExchangeMeter, Globals, WorkerSpec,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistrictHeatingWorker {
    pub exchange: DistrictHeatingConfig,
    pub meters: Vec<ExchangeMeter>,
}

impl Kind for DistrictHeatingWorker {
    fn desired(
        entities: &[(PathBuf, Entity)],
        globals: &Globals,
        errors: &mut Vec<ConfigError>,
    ) -> Vec<WorkerSpec> {
        let mut exchange = Exchange::default();
        for (file, entity) in entities {
            exchange.add(file, entity);
        }
        exchange.finish(globals, errors).into_iter().collect()
    }
}
