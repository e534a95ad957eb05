"""A late job: a code the webhook could not issue in time, for the worker (delivery.py) to text later."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class LateJob:
    """A code to text later: one job per sender and campaign, however often they text meanwhile."""

    slug: str
    sender: str
    to: str
    sid: str
    #: The channel the text came by (whatsapp.py decides how the late reply may go back).
    channel: str = "sms"

    @property
    def id(self) -> str:
        return f"{self.slug}|{self.sender}"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> LateJob:
        return cls(**json.loads(text))
