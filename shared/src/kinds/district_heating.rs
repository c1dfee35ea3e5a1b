//! `district_heating:exchange`: the one file exchange with the energy company, serving the
//! `meter_ids` of every house and building.

use serde::{Deserialize, Serialize};

use super::{Desired, Kind};
use crate::config::{
    DistrictHeatingConfig, Exchange, ExchangeMeter, WorkerSpec,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistrictHeatingWorker {
    pub exchange: DistrictHeatingConfig,
    pub meters: Vec<ExchangeMeter>,
}

impl Kind for DistrictHeatingWorker {
    fn desired(cx: &mut Desired<'_>) -> Vec<WorkerSpec> {
        let mut exchange = Exchange::default();
        for (file, entity) in cx.entities {
            exchange.add(file, entity);
        }
        exchange.finish(cx.globals, cx.errors).into_iter().collect()
    }
}
