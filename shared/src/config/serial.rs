//! Serial devices declared in a house profile (`"serial": [...]`): each becomes a
//! `serial:<house>/<name>` worker, such as a Wi-SUN B-route module reading a smart meter.

use serde::{Deserialize, Serialize};

use super::Problems;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialConfig {
    /// Part of the worker id and the `device` tag, such as `broute`.
    pub name: String,
    /// The device path, such as `/dev/ttyUSB0`.
    pub port: String,
    #[serde(default = "SerialConfig::default_baud")]
    pub baud: u32,
}

impl SerialConfig {
    fn default_baud() -> u32 {
        115_200
    }

    pub(crate) fn validate(&self, at: &str, problems: &mut Problems) {
        super::check_name(&self.name, &format!("{at}.name"), problems);
        if self.port.is_empty() {
            problems.push((format!("{at}.port"), "is empty".into()));
        }
    }
}
