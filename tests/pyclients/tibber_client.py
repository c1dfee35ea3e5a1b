"""pyTibber (the PyPI `pytibber` package) against `hemflux-sim tibber`.

Usage: tibber_client.py URL TOKEN. Runs what pyTibber's users run (update info, a home's
prices, its hourly consumption paged backwards, daily history from a date, the hourly price
rating) and prints one JSON object for the Rust test to check.
"""

import asyncio
import datetime as dt
import json
import sys

import aiohttp
import tibber


async def main(url: str, token: str) -> None:
    # pyTibber posts to the module-level API_ENDPOINT.
    tibber.API_ENDPOINT = url
    async with aiohttp.ClientSession() as session:
        client = tibber.Tibber(token, websession=session, user_agent="hemflux-test")
        await client.update_info()
        home = client.get_homes(only_active=True)[0]
        await home.update_info()
        await home.fetch_consumption_data()
        yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
        daily = await home.get_historic_data_date(yesterday, 2, resolution="DAILY")
        monthly = await home.get_historic_data(3, resolution="MONTHLY")
        rating = await home.get_historic_price_data("HOURLY")
        print(json.dumps({
            "name": client.name,
            "active_homes": client.get_home_ids(only_active=True),
            "address1": home.address1,
            "has_production": home.has_production,
            "price_starts": sorted(home.price_total),
            "hourly_froms": [n["from"] for n in home.hourly_consumption_data],
            "hourly_costs": [n["totalCost"] for n in home.hourly_consumption_data],
            "month_cons": home.month_cons,
            "daily": daily,
            "monthly": monthly,
            "rating_entries": len(rating or []),
        }))


asyncio.run(main(sys.argv[1], sys.argv[2]))
