//! A HomeSide client for tests: logs in to the simulator as a user would and reads and writes
//! its variables, to check what the workers did to a house.

use std::time::Duration;

use serde_json::{json, Value};

/// The `.env` lines of a house's HomeSide login, as `hemflux add-house` writes them.
pub fn login_env(house: &str, user: &str, password: &str, url: &str) -> String {
    format!("HOUSE_{house}_USERNAME={user}\nHOUSE_{house}_PASSWORD={password}\nHOUSE_{house}_URL={url}\n")
}

/// One logged-in client of one house.
pub struct Client {
    http: reqwest::blocking::Client,
    base: String,
    key: String,
    clientid: String,
    pub bms: Value,
    controller: String,
}

impl Client {
    pub fn post(&self, path: &str, auth: bool, body: Value) -> Value {
        let mut req = self
            .http
            .post(format!("{}/api/v2/{path}", self.base))
            .json(&body);
        if auth {
            req = req.header("Authorization", &self.key);
        }
        let resp = req.send().unwrap();
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.json().unwrap()
    }

    pub fn login(base: &str, (controller, user, password): (&str, &str, &str)) -> Client {
        let mut c = Client {
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            base: base.to_string(),
            key: String::new(),
            clientid: String::new(),
            bms: Value::Null,
            controller: controller.to_string(),
        };
        let login = json!({"user": {"Account": "homeside", "UserName": user, "Password": password}, "lang": "sv"});
        c.key = c.post("authorize/account", false, login)["querykey"]
            .as_str()
            .unwrap()
            .to_string();
        c.clientid = c.post("housefidlist", true, json!({}))[0]["restapiurl"]
            .as_str()
            .unwrap()
            .to_string();
        c.bms = c.post(
            "housearrigobmsapi/getarrigobmstoken",
            true,
            json!({"clientid": c.clientid}),
        );
        c
    }

    /// Short name → (path, value) of every variable.
    pub fn read(&self) -> std::collections::HashMap<String, (String, Value)> {
        let body = json!({"uid": self.bms["uid"], "clientid": self.clientid, "extendUid": self.bms["extendUid"], "token": self.bms["token"]});
        let answer = self.post("housearrigobmsapi/getducvariables", true, body);
        let prefix = format!("{}.", self.controller);
        answer["variables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                let short = v["variable"]
                    .as_str()
                    .unwrap()
                    .strip_prefix(&prefix)
                    .unwrap()
                    .to_string();
                (
                    short,
                    (v["path"].as_str().unwrap().to_string(), v["value"].clone()),
                )
            })
            .collect()
    }

    pub fn number(&self, short: &str) -> f64 {
        self.read()[short]
            .1
            .as_f64()
            .unwrap_or_else(|| panic!("{short} is not a number"))
    }

    pub fn curve(&self) -> Vec<f64> {
        let vars = self.read();
        (1..=10)
            .map(|i| {
                vars[&format!("KU_VS1_GT_TILL_1_CurveAdaptation_Y_{i}")]
                    .1
                    .as_f64()
                    .unwrap()
            })
            .collect()
    }

    /// Writes the ten curve points, one `save` per point, as the real API takes them.
    pub fn write_curve(&self, curve: &[f64]) {
        let vars = self.read();
        let tokens = json!({"uid": self.bms["uid"], "token": self.bms["token"], "refreshToken": "", "extendUid": self.bms["extendUid"]});
        for (i, v) in curve.iter().enumerate() {
            let path = &vars[&format!("KU_VS1_GT_TILL_1_CurveAdaptation_Y_{}", i + 1)].0;
            let body = json!({"clientid": self.clientid, "arrigoBMSTokenAndUid": tokens.to_string(), "input": [{"Name": path, "Value": v.to_string()}]});
            self.post("housearrigobmsapi/save", true, body);
        }
    }

    /// Whether HomeSide's own curve adaptation is on.
    pub fn adaption(&self) -> bool {
        self.read()["KU_VS1_GT_TILL_1_Adaption"]
            .1
            .as_bool()
            .expect("Adaption is a bool")
    }
}
