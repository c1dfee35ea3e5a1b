"""Reference figures for hemflux's daily fit, computed once with eemeter's CalTRACK 2.0 daily method.

Run:  python3 -m venv venv && venv/bin/pip install 'eemeter==3.2.0' 'pandas<2.1' 'numpy<2' \
          'statsmodels<0.15' 'scipy<1.12' pytz
      venv/bin/python analytics/reference/eemeter_caltrack_daily.py

eemeter 4.x replaced the CalTRACK 2.0 usage-per-day model with a new daily model; 3.2.0 (the last
release with `fit_caltrack_usage_per_day_model`) ships the same sample files, which are copied
byte for byte to analytics/tests/fixtures/ (Apache-2.0, openeemeter/eemeter).

The script follows eemeter's own `caltrack_daily` quickstart: baseline = the year before the
sample's blackout start (2021-04-01), the daily design matrix (HDD at 30..90 °F), heating-only
candidates (gas: fit_cdd=False), and a prediction over the year after the blackout end. Days are
UTC days (eemeter's convention; the sample is stamped in UTC). Hourly meter data is summed per UTC
day, keeping only days with all 24 hours, which is hemflux's completeness rule (the first day of
the sample starts at 01:00 and is dropped).
"""

import eemeter
import pandas as pd
from dateutil.relativedelta import relativedelta

SAMPLE = "uk-gas-hdd-only-hourly-sample-0"

meter, temps, meta = eemeter.load_sample(SAMPLE, tempF=False)
hourly = meter["value"]
daily = hourly.resample("D").agg(["sum", "count"])
daily = daily[daily["count"] == 24][["sum"]].rename(columns={"sum": "value"})

start = meta["blackout_start_date"]
baseline, _ = eemeter.get_baseline_data(
    daily, start=start - relativedelta(years=1), end=start, max_days=None
)
design = eemeter.create_caltrack_daily_design_matrix(baseline, temps, degc=True)
model = eemeter.fit_caltrack_usage_per_day_model(design, fit_cdd=False)
params = model.model.model_params
bp_f = params["heating_balance_point"]

# 366 day starts bound 365 days: eemeter predicts over the periods between index points.
reporting_index = pd.date_range(
    meta["blackout_end_date"], periods=366, freq="D", tz="UTC"
)
# predict() takes °F only.
prediction = model.model.predict(reporting_index, 32 + temps * 1.8).result

print(f"model_type            {model.model.model_type}")
print(f"days_used             {int(model.model.result.nobs)}")
print(f"balance_point_f       {bp_f}")
print(f"balance_point_c       {(bp_f - 32) / 1.8:.6f}")
print(f"intercept_kwh_per_day {params['intercept']:.6f}")
# eemeter's slope is per °F·day; per °C·day it is 1.8 times larger.
print(f"slope_kwh_per_k_day   {params['beta_hdd'] * 1.8:.6f}")
print(f"r2_adj                {model.model.r_squared_adj:.6f}")
print(f"reporting_from        {reporting_index[0].date()}")
print(f"predicted_days        {int(prediction['predicted_usage'].notna().sum())}")
print(f"annual_prediction_kwh {prediction['predicted_usage'].sum():.3f}")
