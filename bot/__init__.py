"""SMS and QR keyword coupon bot."""

from .app import create_app
from .config import Settings

__all__ = ["create_app", "Settings"]
