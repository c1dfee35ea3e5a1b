//! The house worker's side of heat-curve control: the `controller:<id>` worker asks it (through
//! the orchestrator) to read the house (`observe`), to write a curve (`write_curve`) and to put
//! the user's curve back (`restore_curve`). It writes the active curve registers
//! `CurveAdaptation_Y_1..10` one input per `save`, as the real API takes them, turns HomeSide's
//! own adaptation (`Adaption`) off first (it would drift the curve under us, §7b), and reads
//! everything back. The user's values (curve and `Adaption`) are saved in its state before the
//! first write and written back by `restore_curve`, and by the worker itself when it is stopped
//! (shutdown, offboarding, the orchestrator gone), since it alone holds the session.

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use tokio::time::{sleep, Duration};

use super::client::Variable;
use super::mapping::Snapshot;
use super::{same_value, House};
use crate::link::Link;

const CURVE_POINTS: usize = 10;
const ADAPTION: &str = "KU_VS1_GT_TILL_1_Adaption";

fn curve_register(i: usize) -> String {
    format!("KU_VS1_GT_TILL_1_CurveAdaptation_Y_{}", i + 1)
}

/// Writes show on a read within ~1-3 s (protocol quirk 6): read back after these waits.
const READ_BACK_WAITS_MS: [u64; 3] = [2000, 1000, 1000];

fn number(var: &Variable) -> Option<f64> {
    match &var.value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn flag(var: &Variable) -> Option<bool> {
    match &var.value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        Value::Number(n) => n.as_f64().map(|x| x != 0.0),
        _ => None,
    }
}

impl House {
    fn var<'a>(&self, snap: &Snapshot<'a>, short: &str) -> Result<&'a Variable> {
        snap.get(short)
            .with_context(|| format!("house {} has no variable {short}", self.house_id))
    }

    /// The house now: its reading (`heating_system` fields and the source's time), the active
    /// curve and whether HomeSide's adaptation is on, as JSON.
    pub(super) async fn observe(&mut self) -> Result<String> {
        let (point, vars) = self.read_point().await?;
        let point = point.context("the read had no mapped value")?;
        let snap = Snapshot::new(&self.controller, &vars);
        let field = |name: &str| point.fields.get(name).and_then(|v| v.as_f64());
        let mut curve = Vec::with_capacity(CURVE_POINTS);
        for i in 0..CURVE_POINTS {
            let var = self.var(&snap, &curve_register(i))?;
            curve.push(number(var).with_context(|| {
                format!("{} has no number ({})", var.variable, var.value)
            })?);
        }
        let adaption = snap.get(ADAPTION).and_then(flag);
        let time = jiff::Timestamp::from_nanosecond(i128::from(point.time))?;
        Ok(json!({
            "time": time.to_string(),
            "room": field("room_temperature"),
            "outdoor": field("outdoor_temperature"),
            "supply": field("supply_temp"),
            "return": field("return_temp"),
            "curve": curve,
            "adaption": adaption,
        })
        .to_string())
    }

    /// `write_curve {curve: [10], baseline: [10]}`: saves the user's values first (the
    /// controller's frozen baseline, never what a lowered device holds, and `Adaption` as read),
    /// turns `Adaption` off, writes the ten points and reads them back.
    pub(super) async fn write_curve(&mut self, link: &Link, args: &Value) -> Result<String> {
        let curve = ten(&args["curve"]).context("write_curve needs curve: [10 numbers]")?;
        let baseline = ten(&args["baseline"]).context("write_curve needs baseline: [10 numbers]")?;
        let vars = self.read().await?;
        let (registers, adaption) = {
            let snap = Snapshot::new(&self.controller, &vars);
            let registers = (0..CURVE_POINTS)
                .map(|i| self.var(&snap, &curve_register(i)).cloned())
                .collect::<Result<Vec<_>>>()?;
            (registers, snap.get(ADAPTION).cloned())
        };
        if self.curve_baseline.is_empty() {
            for (i, v) in baseline.iter().enumerate() {
                self.curve_baseline.insert(curve_register(i), format!("{v:.1}"));
            }
            if let Some(on) = adaption.as_ref().and_then(flag) {
                let text = if on { "True" } else { "False" };
                self.curve_baseline.insert(ADAPTION.into(), text.into());
            }
            // Durable before the first write: whatever happens next, the user's curve is known.
            link.save_state(self.state()).await?;
        }
        let mut expected = Vec::new();
        if let Some(var) = adaption.filter(|v| flag(v) == Some(true)) {
            self.write_one(&var, "False").await?;
            expected.push((var, "False".to_string()));
        }
        for (var, v) in registers.into_iter().zip(curve) {
            let text = format!("{v:.1}");
            self.write_one(&var, &text).await?;
            expected.push((var, text));
        }
        self.read_back(&expected).await?;
        Ok(format!("curve written: {}", texts(&curve)))
    }

    /// `restore_curve {baseline?: [10]}`: writes the saved user values back (the curve, then
    /// `Adaption`), reads them back and forgets them. With nothing saved here (this worker's
    /// state lost) it writes the controller's `baseline`, if given. `persist` is false once the
    /// orchestrator is gone.
    pub(super) async fn restore_curve(
        &mut self,
        link: &Link,
        args: &Value,
        persist: bool,
    ) -> Result<String> {
        if self.curve_baseline.is_empty() {
            let Ok(baseline) = ten(&args["baseline"]) else {
                return Ok("nothing to restore".into());
            };
            for (i, v) in baseline.iter().enumerate() {
                self.curve_baseline.insert(curve_register(i), format!("{v:.1}"));
            }
        }
        let vars = self.read().await?;
        let mut order: Vec<(String, String)> = self
            .curve_baseline
            .iter()
            .filter(|(k, _)| k.as_str() != ADAPTION)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        order.extend(
            self.curve_baseline
                .get(ADAPTION)
                .map(|v| (ADAPTION.to_string(), v.clone())),
        );
        let writes = {
            let snap = Snapshot::new(&self.controller, &vars);
            order
                .into_iter()
                .map(|(short, text)| Ok((self.var(&snap, &short)?.clone(), text)))
                .collect::<Result<Vec<_>>>()?
        };
        let mut expected = Vec::new();
        for (var, text) in writes {
            self.write_one(&var, &text).await?;
            expected.push((var, text));
        }
        self.read_back(&expected).await?;
        let restored = std::mem::take(&mut self.curve_baseline);
        if persist {
            link.save_state(self.state()).await?;
        }
        Ok(format!("restored {} values", restored.len()))
    }

    /// One `save` with one input, by path.
    pub(super) async fn write_one(&mut self, var: &Variable, text: &str) -> Result<()> {
        let path = var
            .path
            .as_deref()
            .with_context(|| format!("{} has no path to write to", var.variable))?;
        let conn = self.conn.as_ref().context("not logged in")?;
        self.client
            .write(&conn.session, &conn.clientid, &conn.bms, path, text)
            .await
            .with_context(|| format!("writing {} = {text}", var.variable))
    }

    /// Reads until every written value shows, or fails naming the first that does not.
    pub(super) async fn read_back(&mut self, expected: &[(Variable, String)]) -> Result<()> {
        let mut wrong = String::new();
        for wait_ms in READ_BACK_WAITS_MS {
            sleep(Duration::from_millis(wait_ms)).await;
            let vars = self.read().await?;
            let snap = Snapshot::new(&self.controller, &vars);
            let first_wrong = expected.iter().find_map(|(var, text)| {
                let short = &var.variable[self.controller.len() + 1..];
                let seen = snap.get(short).map_or(Value::Null, |v| v.value.clone());
                (!same_value(&seen, text))
                    .then(|| format!("{} = {text} reads back as {seen}", var.variable))
            });
            match first_wrong {
                None => return Ok(()),
                Some(w) => wrong = w,
            }
        }
        bail!("wrote, but {wrong}")
    }
}

fn ten(value: &Value) -> Result<[f64; CURVE_POINTS]> {
    let items = value.as_array().context("not an array")?;
    ensure!(items.len() == CURVE_POINTS, "{} values, not 10", items.len());
    let mut out = [0.0; CURVE_POINTS];
    for (o, v) in out.iter_mut().zip(items) {
        *o = v.as_f64().filter(|x| x.is_finite()).context("not a number")?;
    }
    Ok(out)
}

fn texts(curve: &[f64]) -> String {
    curve
        .iter()
        .map(|v| format!("{v:.1}"))
        .collect::<Vec<_>>()
        .join(" ")
}
