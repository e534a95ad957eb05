"""What the outreach benchmarks share (bench/outbound.py: birthdays; bench/broadcast.py: a broadcast).

`OutreachRig(rate, campaigns)`: one real redis-server on a free port, the tests' Talon.One and Twilio
stand-ins in this process, a campaign file (the tests' with `send_rate = rate`, plus `campaigns`) and
the environment `bot worker` runs with; `services()` builds this process's Services on it;
`achieved(sent)` and `doubles(sent)` read the stand-in's texts. Loopback only.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.__main__ import AUTH_TOKEN, PUBLIC_BASE_URL  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.services import Services  # noqa: E402
from tests.support.bot_process import WorkerProcess, clean_environ  # noqa: E402
from tests.support.campaign_files import CAMPAIGNS  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402
from tests.support.talon_stub import TalonStub  # noqa: E402
from tests.support.twilio_stub import SentMessage, TwilioStub  # noqa: E402
from tests.support.webhooks import ACCOUNT_SID  # noqa: E402


def noon_zone(now: dt.datetime) -> tuple[str, dt.date]:
    """A fixed-offset zone where it is about noon now, and its local date (no quiet hours for hours)."""
    offset = 12 - now.hour
    zone = f"Etc/GMT{-offset:+d}"
    return zone, (now + dt.timedelta(hours=offset)).date()


class OutreachRig:
    def __init__(self, rate: float, campaigns: str = ""):
        self.rate = rate
        self.redis_server = RedisServer().start()
        self.talon, self.twilio = TalonStub().start(), TwilioStub(auth_token=AUTH_TOKEN).start()
        self.folder = Path(self.redis_server.dir)
        self.campaigns = self.folder / "campaigns.toml"
        self.campaigns.write_text(CAMPAIGNS.replace(
            'terms_url = "https://example.com/sms-terms"\n',
            f'terms_url = "https://example.com/sms-terms"\nsend_rate = {rate}\n') + campaigns)
        self.env = {
            "REDIS_URL": self.redis_server.url, "TALON_API_KEY": "bench", "TALON_DEPLOYMENT": "bench.talon.one",
            "TALON_BASE_URL": self.talon.url, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_API_URL": self.twilio.url, "PUBLIC_BASE_URL": PUBLIC_BASE_URL, "BOT_SECRET": "bench",
            "CAMPAIGNS_FILE": str(self.campaigns), "JOB_LEASE_S": "2", "TWILIO_TIMEOUT_S": "2", "SEND_THREADS": "6",
        }
        self.workers: list[WorkerProcess] = []

    def __enter__(self) -> OutreachRig:
        return self

    def __exit__(self, *exc) -> None:
        for worker in self.workers:
            worker.stop()
        self.talon.close()
        self.twilio.close()
        self.redis_server.cleanup()

    @property
    def full_env(self) -> dict[str, str]:
        return {**clean_environ(), **self.env}

    def services(self) -> Services:
        return Services.build(Settings.from_env(self.full_env))

    def start_workers(self, count: int) -> None:
        self.workers.extend(WorkerProcess(self.env).start() for _ in range(count))

    def replace_worker(self, index: int) -> None:
        """SIGKILL worker `index` and start another in its place."""
        self.workers[index].kill()
        self.workers[index] = WorkerProcess(self.env).start()

    def achieved(self, sent: list[SentMessage]) -> tuple[float, float]:
        """(texts per second, span in seconds) between the stand-in's first and last text."""
        span = (sent[-1].sent_at - sent[0].sent_at).total_seconds() if len(sent) > 1 else 0.0
        return ((len(sent) - 1) / span if span else 0.0), span

    @staticmethod
    def doubles(sent: list[SentMessage]) -> int:
        return sum(1 for n in Counter(m.to for m in sent).values() if n > 1)
