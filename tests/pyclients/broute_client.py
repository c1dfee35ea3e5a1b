"""momonga (PyPI), a widely used B-route client, against `hemflux-sim broute` on its pty.

Usage: broute_client.py DEVICE RBID PASSWORD. Opens the session as momonga's users do (reset,
SA2, scan, join), reads the meter and prints one JSON object for the Rust test to check.
"""

import json
import sys

from momonga import Momonga


def main(dev: str, rbid: str, pwd: str) -> None:
    meter = Momonga(rbid, pwd, dev)
    # Seconds momonga waits between requests to be kind to a real meter; none needed here.
    meter.internal_xmit_interval = 0
    with meter:
        fixed = meter.get_cumulative_energy_measured_at_fixed_time()
        print(json.dumps({
            "device": meter.session_manager.skw.device_type.name,
            "power_w": meter.get_instantaneous_power(),
            "energy_kwh": meter.get_measured_cumulative_energy(),
            "current": meter.get_instantaneous_current(),
            "fixed_time": fixed["timestamp"].isoformat(),
            "fixed_kwh": fixed["cumulative energy"],
        }, default=str))


main(*sys.argv[1:4])
