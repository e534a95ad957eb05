"""The bot under a real gunicorn with two workers: /metrics adds up every worker; logs stay free of numbers."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.gunicorn import Gunicorn
from tests.support.numbers import hidden_parts
from tests.support.webhooks import ACCOUNT_SID, AUTH_TOKEN, DEPLOYMENT, PUBLIC_BASE_URL, sign, twilio_form


@pytest.fixture
def gunicorn(redis_url, talon, campaigns_file: Path):
    env = {
        "PATH": os.environ["PATH"],
        "CAMPAIGNS_FILE": str(campaigns_file),
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": "g" + uuid.uuid4().hex[:12],
        "TALON_API_KEY": "test-cep-key",
        "TALON_DEPLOYMENT": DEPLOYMENT,
        "TALON_BASE_URL": talon.url,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "BOT_SECRET": "test-secret",
    }
    # No --config: gunicorn reads ./gunicorn.conf.py by itself, as the Procfile relies on.
    server = Gunicorn.on_free_port(
        lambda port: [
            sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{port}",
            "--workers", "2", "--threads", "2", "--access-logfile", "-",
            "--access-logformat", "%(p)s %(m)s %(U)s %(s)s",
        ],
        env=env,
    ).start()
    yield server
    server.stop()


def post_text(server: Gunicorn, body: str, sender: str) -> httpx.Response:
    form = twilio_form(body, sender=sender)
    # A new connection per text, so the kernel hands texts to either worker.
    return httpx.post(server.url + "/sms", data=form, headers={"X-Twilio-Signature": sign(form)}, timeout=10)


def issued(server: Gunicorn) -> float:
    text = httpx.get(server.url + "/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "kcb_texts_total" \
                    and sample.labels == {"channel": "sms", "campaign": "spring", "outcome": "issued"}:
                return sample.value
    return 0.0


def sms_workers(server: Gunicorn) -> set[str]:
    return {line.split()[0] for line in server.stdout().splitlines() if " POST /sms 200" in line}


def test_metrics_add_up_every_worker_and_survive_a_dead_one(gunicorn):
    senders = iter(f"+1555020{n:04d}" for n in range(10_000))
    sent = []
    deadline = time.monotonic() + 30
    while len(sent) < 10 or len(sms_workers(gunicorn)) < 2:  # until both workers served texts
        assert time.monotonic() < deadline, "gunicorn never spread texts over two workers"
        sender = next(senders)
        assert "T1-" in post_text(gunicorn, "SAVE", sender).text
        sent.append(sender)

    match = re.search(r"prometheus multiprocess mode in (\S+)", gunicorn.stderr())
    assert match, gunicorn.stderr()
    folder = Path(match.group(1))
    assert folder.is_dir()
    # Whichever worker answers the scrape, it reports every worker's texts.
    assert [issued(gunicorn) for _ in range(4)] == [len(sent)] * 4
    # Gauges read from Redis at the scrape: the latest scrape's value, not one per worker.
    for _ in range(4):
        scraped = httpx.get(gunicorn.url + "/metrics", timeout=10).text
        assert scraped.count("kcb_upstream_breaker_state{") == 3
        assert 'kcb_upstream_breaker_state{state="closed"} 1.0' in scraped
        assert "kcb_late_jobs_queued 0.0" in scraped

    victim = gunicorn.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while victim in gunicorn.worker_pids() or len(gunicorn.worker_pids()) < 2:  # gunicorn replaces it
        assert time.monotonic() < deadline, "gunicorn did not replace the killed worker"
        time.sleep(0.05)
    for _ in range(3):
        sent.append(next(senders))
        assert "T1-" in post_text(gunicorn, "SAVE", sent[-1]).text
    assert issued(gunicorn) == len(sent)  # the dead worker's counts are still counted

    assert gunicorn.stop() == 0
    assert not folder.exists()  # a folder gunicorn.conf.py made is removed at exit

    logs = gunicorn.stdout() + gunicorn.stderr()
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert sum(line.get("event") == "text" for line in lines) == len(sent)
    for number in sent:
        for part in hidden_parts(number):
            assert part not in logs


def test_procfile_web_line_runs_as_written_on_loopback(tmp_path):
    from tests.support.gunicorn import procfile_web_args

    procfile = tmp_path / "Procfile"
    procfile.write_text(
        "web: gunicorn wsgi:app --bind 0.0.0.0:$PORT --workers ${WEB_CONCURRENCY:-2} --threads 4\nworker: bot worker\n"
    )
    args = procfile_web_args(8123, procfile)
    assert args[1:3] == ["-m", "gunicorn"]
    assert args[3:] == ["wsgi:app", "--bind", "127.0.0.1:8123", "--workers", "2", "--threads", "4"]


def test_under_gunicorn_a_body_over_the_limit_is_refused_declared_or_chunked(gunicorn):
    """The webhook reads gunicorn's own bounded stream (bot.web.BotRequest); the 64 KiB limit still holds:
    a declared length over it is a 413 before anything is read, a chunked one never gets past the limit."""
    form = twilio_form("SAVE" + "x" * 200_000)
    declared = httpx.post(gunicorn.url + "/sms", data=form, headers={"X-Twilio-Signature": sign(form)}, timeout=10)
    assert declared.status_code == 413

    def chunks():
        body = "&".join(f"{k}={v}" for k, v in form.items()).encode()
        for start in range(0, len(body), 16_384):
            yield body[start:start + 16_384]

    chunked = httpx.post(gunicorn.url + "/sms", content=chunks(), timeout=10, headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sign(form)})
    # werkzeug stops reading at the limit, so the form is cut short and its signature no longer holds.
    assert chunked.status_code in (403, 413)
    assert issued(gunicorn) == 0
    served = post_text(gunicorn, "SAVE", "+15550001234")
    assert served.status_code == 200 and "<Message>" in served.text
