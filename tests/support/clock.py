"""Clocks the tests set by hand: `Clock` for what takes an aware datetime (the conversation), `Seconds`
for what takes `time.monotonic` (the journal's recheck, the scripts' idle connections)."""

from __future__ import annotations

import datetime as dt


class Clock:
    def __init__(self, now: dt.datetime):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


class Seconds:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now
