"""`make bench`: the bot under gunicorn against a minimal baseline, on loopback, bounded. See bench/__main__.py."""
