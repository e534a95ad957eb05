"""SMS and QR keyword coupon bot.

`create_app` and `Settings` are loaded on first use (PEP 562), so importing a
pure module such as `bot.keywords` does not load Flask, Redis, httpx or Twilio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app
    from .config import Settings

__all__ = ["create_app", "Settings"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "Settings":
        from .config import Settings

        return Settings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
