"""A clock the tests set by hand (the conversation takes any callable returning an aware datetime)."""

from __future__ import annotations

import datetime as dt


class Clock:
    def __init__(self, now: dt.datetime):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now
