"""What a poster is asked for (paper, scan distance, error level, mode, reference), and the one
error every step of making it raises."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..errors import BotError

PAPERS: dict[str, tuple[float, float]] = {"A4": (210.0, 297.0), "Letter": (215.9, 279.4)}
MODES = ("direct", "tracked")
CHANNELS = ("sms", "whatsapp")
ERROR_LEVELS = ("L", "M", "Q", "H")

Mode = Literal["direct", "tracked"]


class PosterError(BotError):
    """A poster cannot be made as asked; the message says what to change."""


@dataclass(frozen=True)
class PosterOptions:
    paper: str = "A4"
    #: Expected scan distance in metres: the QR symbol is at least distance/10 wide.
    distance_m: float = 1.0
    error: str = "M"
    mode: Mode = "direct"
    #: A per-poster reference for a campaign slug (a `[[posters]]` slug carries its own).
    ref: str | None = None
    #: What a direct poster's QR opens: the SMS composer, or WhatsApp's chat (`[program] whatsapp_numbers`).
    channel: str = "sms"

    def check(self) -> None:
        if self.paper not in PAPERS:
            raise PosterError(f"paper: expected one of {', '.join(PAPERS)}, got {self.paper!r}")
        if self.error not in ERROR_LEVELS:
            raise PosterError(f"error correction: expected one of {', '.join(ERROR_LEVELS)}, got {self.error!r}")
        if self.mode not in MODES:
            raise PosterError(f"mode: expected one of {', '.join(MODES)}, got {self.mode!r}")
        if self.channel not in CHANNELS:
            raise PosterError(f"channel: expected one of {', '.join(CHANNELS)}, got {self.channel!r}")
        if self.channel == "whatsapp" and self.mode == "tracked":
            raise PosterError("channel whatsapp is for direct posters: a tracked poster's page offers WhatsApp itself")
        if not (0.1 <= self.distance_m <= 20):
            raise PosterError(f"distance: expected 0.1 to 20 metres, got {self.distance_m}")


#: The options a caller that asks for nothing gets (frozen, so one instance serves every call).
DEFAULT_OPTIONS = PosterOptions()
