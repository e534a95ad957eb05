"""WSGI entry point: `gunicorn wsgi:app`. Configuration comes from the environment."""

import sys

from bot import create_app
from bot.errors import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    # One line naming the variable or the campaign file's place, not a traceback.
    print(f"bot: configuration error: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
