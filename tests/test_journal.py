"""The STOP journal shared by the processes of one host: what one writes, the others see on their next text.

The other process is a real one (a `python -c` that records through its own
`Journal`); the journal's clock is injected, so "within a second" is a clock
moved by hand, not a wait.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid

import pytest
import redis

from bot import journal as journal_module
from bot.journal import RECHECK_S, ComplianceRecord, Journal
from bot.store import Store
from tests.support.clock import Seconds

SENDER = "+15551234567"


@pytest.fixture
def clock() -> Seconds:
    return Seconds()


def stop(sid: str = "SMstop", arrived_us: int = 1) -> ComplianceRecord:
    return ComplianceRecord(arrived_us, sid, SENDER, "out", "STOP", "sms")


def record_in_another_process(folder, record: ComplianceRecord, *, pending: bool) -> None:
    code = textwrap.dedent(f"""
        from bot.journal import ComplianceRecord, Journal
        Journal({str(folder)!r}).record(ComplianceRecord.parse({record.line()!r}), pending={pending!r})
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_a_stop_another_process_journalled_is_seen_on_the_next_text(tmp_path, clock):
    journal = Journal(tmp_path, clock=clock)
    assert journal.latest(SENDER) is None and not journal.has_pending()
    record_in_another_process(tmp_path, stop(), pending=True)
    # The same instant: no time has passed for a recheck; the change counter says the files moved.
    assert journal.latest(SENDER) == stop()
    assert journal.has_pending()


def test_a_replay_in_another_process_is_seen_at_once(tmp_path, clock, redis_url):
    journal = Journal(tmp_path, clock=clock)
    journal.record(stop(), pending=True)
    assert journal.has_pending()
    prefix = f"journal-{uuid.uuid4().hex[:8]}"
    code = textwrap.dedent(f"""
        import redis
        from bot.journal import Journal
        from bot.store import Store
        store = Store(redis.Redis.from_url({redis_url!r}), prefix={prefix!r})
        assert Journal({str(tmp_path)!r}).replay_pending(store, 30) == 1
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert not journal.has_pending()
    assert Store(redis.Redis.from_url(redis_url), prefix=prefix).is_opted_out(SENDER)


def test_an_unchanged_journal_is_not_asked_of_the_disk(tmp_path, clock, monkeypatch):
    """Every text asks for the latest STOP and for pending events: from memory while nothing moved."""
    journal = Journal(tmp_path, clock=clock)
    journal.record(stop(), pending=False)
    journal.latest(SENDER), journal.has_pending()
    stats = []
    real_stat = os.stat
    monkeypatch.setattr(journal_module.os, "stat", lambda *a, **k: stats.append(a) or real_stat(*a, **k))
    for _ in range(100):
        assert journal.latest(SENDER) == stop()
        assert not journal.has_pending()
    assert stats == []
    clock.now += RECHECK_S  # and the files themselves, once a second
    journal.latest(SENDER), journal.has_pending()
    assert len(stats) == 2


def test_a_writer_that_died_before_its_bump_is_seen_within_a_second(tmp_path, clock):
    """A line appended and fsynced, then the writer killed before it moved the counter: the once-a-second
    look at the files finds it."""
    journal = Journal(tmp_path, clock=clock)
    assert journal.latest(SENDER) is None and not journal.has_pending()
    for path in (journal.log_path, journal.pending_path):
        with open(path, "ab") as file:
            file.write(stop().line())
    clock.now += RECHECK_S
    assert journal.latest(SENDER) == stop()
    assert journal.has_pending()


def test_the_counter_file_is_made_once_and_kept(tmp_path, clock):
    first = Journal(tmp_path, clock=clock)
    first.record(stop(), pending=False)
    counted = first._changes.value()
    again = Journal(tmp_path, clock=clock)  # a process started later: it maps the same number
    assert again._changes.value() == counted > 0
    again.record(stop("SMother", 2), pending=False)
    assert first._changes.value() == counted + 1
    assert first.latest(SENDER).sid == "SMother"
