"""WSGI entry point: `gunicorn wsgi:app`. Configuration comes from the environment."""

import sys

from bot import create_app
from bot.errors import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    # One line naming the variable or the campaign file's place, not a traceback.
    print(f"bot: configuration error: {exc}", file=sys.stderr)
    # 3 is gunicorn's WORKER_BOOT_ERROR: its master stops instead of booting workers forever.
    raise SystemExit(3) from None
