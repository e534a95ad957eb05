"""gunicorn settings for the bot: configuration checked before any worker, metrics added up across workers.

`gunicorn wsgi:app` reads ./gunicorn.conf.py by default, so the Procfile's
`web:` line and `make run` (both run from the repository's root) use it as
written. Everything else stays on their command lines.

Each gunicorn worker is its own process with its own counters; `GET /metrics`
is answered by whichever worker accepts the scrape. prometheus-client's
multiprocess mode fixes that: with PROMETHEUS_MULTIPROC_DIR set, every worker
writes its values to files in that folder and `/metrics` adds them all up
(bot/metrics.py). prometheus-client chooses its mode when a process first
imports it, which in a worker happens after the fork (the app is not
preloaded), so setting the variable here, in the master, before any worker
starts, is enough.

- PROMETHEUS_MULTIPROC_DIR unset: a fresh folder per gunicorn run, removed at exit.
- PROMETHEUS_MULTIPROC_DIR set (e.g. a tmpfs the operator chose): used; its
  *.db files are wiped at start-up, as prometheus-client requires between runs.

Configuration is checked once, in the master, before it binds the port or forks
(`on_starting`): an error prints one line naming the variable and gunicorn
exits 2 at once. A worker that still fails to load the app exits 3, which
gunicorn's master answers by stopping rather than booting workers forever
(wsgi.py). The embedded store lives in one process, so it refuses more than
one worker.

The access log leaves out the client's address, user agent and query string:
``access_log_format`` below. To log addresses, pass your own format, e.g.
``GUNICORN_CMD_ARGS="--access-logformat '%(h)s %(t)s \"%(r)s\" %(s)s'"``.
"""

from __future__ import annotations

import glob
import os
import shutil
import sys
import tempfile

#: Time, method, path (no query string), status, bytes, duration: no client address, no user agent.
access_log_format = '%(t)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'

# Accept spreading: with one shared listening socket, gthread workers race for wrk's (and any client's)
# keep-alive connections and one often wins nearly all of them, leaving the other worker idle. With
# reuse_port, gunicorn (27, the version in use) opens one SO_REUSEPORT socket per worker after the fork,
# and the kernel spreads new connections across them by hash (`make bench` prints the spread without
# and with it). Costs: connections still queued on a worker's own socket when it exits are reset, and a
# second gunicorn of the same user on the same port shares it instead of failing to bind.
reuse_port = True

_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_created_dir: str | None = None

if os.environ.get(_MULTIPROC_ENV):
    os.makedirs(os.environ[_MULTIPROC_ENV], exist_ok=True)
else:
    _created_dir = tempfile.mkdtemp(prefix="kcb-metrics-")
    os.environ[_MULTIPROC_ENV] = _created_dir


def check_configuration(workers: int) -> None:
    """Settings and the campaign file, as every worker will read them; exit 2 with one line when wrong."""
    from bot.campaign_file import load_campaigns
    from bot.config import Settings
    from bot.errors import CampaignFileError, ConfigError

    try:
        settings = Settings.from_env()
        settings.check_deployment()
        load_campaigns(settings.campaigns_file)
        if settings.embedded_store and workers > 1:
            raise ConfigError(
                f"REDIS_URL: unset, so the embedded store is used, which lives in one process: run one gunicorn "
                f"worker (--workers 1, WEB_CONCURRENCY=1), not {workers}, or set REDIS_URL"
            )
    except (ConfigError, CampaignFileError) as exc:
        print(f"bot: configuration error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def on_starting(server) -> None:
    check_configuration(server.cfg.workers)
    folder = os.environ[_MULTIPROC_ENV]
    if _created_dir is None:
        for stale in glob.glob(os.path.join(folder, "*.db")):
            os.remove(stale)
    server.log.info("metrics: prometheus multiprocess mode in %s", folder)


def child_exit(server, worker) -> None:
    """A worker died or was replaced: drop its live gauges (its counters stay counted)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    if _created_dir is not None:
        shutil.rmtree(_created_dir, ignore_errors=True)


def worker_exit(server, worker) -> None:
    """A worker stopping cleanly writes the results funnel's last counts (bot/results.py)."""
    from bot.results import flush_all

    flush_all()
