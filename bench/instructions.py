"""Instructions per repeat texter's webhook, counted by callgrind: the bot against its floors, free of timing noise.

Timings on a shared 2-core VM drift by a third over an evening; the number of
instructions a webhook executes does not. Each app (the bot, and
bench/baseline.py's one-round-trip floor, two-round-trip baseline and bare
Flask) is called in process as gunicorn calls it (the WSGI app, a prepared
environ, the JSON log line to /dev/null) under `valgrind --tool=callgrind`,
against a redis-server outside valgrind. Each is run twice, with SHORT and
LONG webhooks after the same set-up; the difference divided by LONG - SHORT is
the instructions of one webhook. Kernel time (the socket calls) is not
counted, and C code (OpenSSL's HMAC, the JSON encoder) counts more than its
time: compare the apps with each other, not with µs.

    python bench/instructions.py     # about five minutes on 2 cores; needs valgrind (apt-get install valgrind)
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: The apps, by name: (the module that builds the WSGI app, the path each answers on).
APPS = {"bot": "/sms", "one_trip": "/sms/one-trip", "base": "/sms", "bare": "/sms/bare"}
SHORT, LONG = 100, 500
SEED = "0"  # PYTHONHASHSEED: the same dict layouts in every run


def webhooks(app_name: str, count: int) -> None:
    """In the child process under valgrind: set up, then `count` repeat texters' webhooks."""
    import redis
    from werkzeug.test import EnvironBuilder

    from bench.redis_cost import PUBLIC_URL, TOKEN, in_process_app, seed_repeat_texter
    from bot.services import services_of
    from bot.store import Store
    from tests.support.redis_server import RedisServer
    from tests.support.talon_stub import TalonStub
    from tests.support.webhooks import sign, twilio_form

    server, talon = RedisServer().start(), TalonStub().start()
    try:
        bot = in_process_app(server, talon)
        for handler in logging.getLogger("bot").handlers:  # the log line is written, where nobody reads it
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - for the whole process
        os.environ.update(REDIS_URL=server.url, TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_BASE_URL=PUBLIC_URL)
        baseline = importlib.import_module("bench.baseline")
        store = Store(redis.Redis.from_url(server.url), prefix="bench")
        book = services_of(bot).book
        senders = [f"+1202{i:07d}" for i in range(LONG + 50)]  # the same set-up whatever `count`
        for sender in senders:
            seed_repeat_texter(store, sender, book)
            baseline.client.set(baseline.code_key(sender), "T1-CACHED")
        app, path = (bot if app_name == "bot" else baseline.app), APPS[app_name]
        environs = []
        for sender in senders:
            form = twilio_form("SAVE", sender=sender)
            environs.append(EnvironBuilder(
                path=path, method="POST", base_url="http://127.0.0.1:8000", data=urlencode(form),
                content_type="application/x-www-form-urlencoded",
                headers={"X-Twilio-Signature": sign(form, url=PUBLIC_URL + path, token=TOKEN)},
                environ_overrides={"wsgi.input_terminated": True},  # as gunicorn says
            ).get_environ())
        body = b""
        for environ in environs[:50 + count]:  # the first 50 warm up, in both runs
            body = b"".join(app(environ, lambda status, headers, exc_info=None: None))
        # The bot and the one-trip floor answer with the seeded code; the others with their fixed TwiML.
        assert (b"T1-CACHED" if app_name in ("bot", "one_trip") else b"BASE-LINE1") in body, body
    finally:
        talon.close()
        server.cleanup()


def instructions(app_name: str, count: int, workdir: Path) -> int:
    out = workdir / f"callgrind-{app_name}-{count}.out"
    run = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, __file__,
         "--child", app_name, str(count)],
        capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": SEED}, timeout=1800,
    )
    found = re.search(r"Collected : (\d+)", run.stderr)
    if run.returncode != 0 or not found:
        raise SystemExit(f"bench: callgrind run of {app_name} failed ({run.returncode}):\n{run.stderr[-2000:]}")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        webhooks(args.child[0], int(args.child[1]))
        return 0
    if shutil.which("valgrind") is None:
        print("bench: valgrind is missing: apt-get install valgrind", file=sys.stderr)
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="kcb-instructions-"))
    try:
        runs = [(name, count) for name in APPS for count in (SHORT, LONG)]
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # instruction counts ignore contention
            counted = dict(zip(runs, pool.map(lambda run: instructions(*run, workdir), runs), strict=True))
        per_webhook = {name: (counted[name, LONG] - counted[name, SHORT]) / (LONG - SHORT) for name in APPS}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    bot = per_webhook["bot"]
    print(f"instructions per repeat texter's webhook (callgrind, in process, {LONG} - {SHORT} webhooks)")
    for name, count in per_webhook.items():
        ratio = "" if name == "bot" else f"   floor/bot {count / bot:.2f}x"
        print(f"  {name:<10} {count / 1e6:6.3f} M{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
