"""Logging: one JSON object per line, with the structured fields callers pass in `extra`."""

from __future__ import annotations

import json
import logging
import sys

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: int = logging.INFO) -> None:
    """Send the bot's logs to stderr as JSON lines, once per process."""
    logger = logging.getLogger("bot")
    if any(getattr(h, "_bot_handler", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._bot_handler = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    # httpx logs every request's full URL at INFO, and Talon.One's URLs carry the
    # customer's number (identifier=+1555…): keep it below INFO whatever the host configures.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # The Twilio library logs each request's form (To=+1555…, Body=the code) at INFO: the same.
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
