"""A campaign file with a competition whose window the test chooses (times relative to now: Redis's clock)."""

from __future__ import annotations

import datetime as dt

from tests.support.campaign_files import CAMPAIGNS

RULES_URL = "https://example.com/prize-rules"


def toml_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def competition_file(*, opens: dt.timedelta = dt.timedelta(hours=-1), closes: dt.timedelta = dt.timedelta(hours=1),
                     extra: str = "") -> str:
    """CAMPAIGNS plus competition "prize" (keyword WIN), open from now + `opens` to now + `closes`."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return CAMPAIGNS + f"""
[[campaigns]]
slug = "prize"
keywords = ["WIN"]
kind = "competition"
application_id = 12
campaign_id = 350
external_campaign_id = "sms-prize"
rules_url = "{RULES_URL}"
starts_at = {toml_time(now + opens)}
ends_at = {toml_time(now + closes)}
reply = "Acme prize draw: you are entry {{{{ entry }}}}. Your code: {{{{ code }}}}."
winner_reply = "You won the Acme prize! Entry {{{{ entry }}}}, code {{{{ code }}}}. Reply to claim."
consolation_reply = "Not this time: {{{{ code }}}} still gets you 10% off."
{extra}
"""
