"""Broadcasts (`bot send`) on the real Redis with the Talon.One and Twilio stand-ins: the plan's numbers and
refusals, an audience file refused by line, exactly once through interruptions, a second host, a STOP and a
cancel mid-broadcast, Twilio down; the engine in process on an injected clock, or a real `bot worker`."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from dataclasses import replace

import pytest

from bot import broadcasts
from bot.cli import send as send_cli
from bot.sending import SendPolicy
from bot.store import AudienceRecord, broadcast_occasion
from tests.support.bot_process import WorkerProcess, env_of, wait_until
from tests.support.campaign_files import WITH_BIRTHDAYS
from tests.support.cli import run_bot
from tests.support.clock import Clock
from tests.support.twilio_stub import twilio_error
from tests.support.webhooks import SHOP_NUMBER

NUMBERS = tuple(f"+1212555{n:04d}" for n in range(101, 106))  # Manhattan mobiles: America/New_York
CONSENT = "2025-01-01T00:00:00+00:00"


@pytest.fixture
def campaigns_text() -> str:
    return WITH_BIRTHDAYS  # send_rate = 100


@pytest.fixture
def clock() -> Clock:
    return Clock(dt.datetime(2026, 7, 14, 16, 0, tzinfo=dt.UTC))  # noon in New York


@pytest.fixture
def engine(services, clock):
    return services.send_engine(clock=clock, policy=SendPolicy(lease_s=30, max_hold_s=0, reconcile_after_s=5))


def customers(store, *numbers: str, timezone: str = "", verified: bool = True) -> None:
    store.save_audience([AudienceRecord(n, "", timezone, CONSENT, "till", verified) for n in numbers])


def plan_of(services, clock, audience=None, *, book=None, messaging_service=False):
    book = book or services.book
    audience = audience or broadcasts.audience_all(services.store)
    return broadcasts.plan_broadcast(book, services.store, book.by_slug("spring"), audience, at=None, now=clock(),
                                     messaging_service=messaging_service)


def started(services, clock, **options):
    plan = plan_of(services, clock)
    assert not plan.refusals
    record, new = broadcasts.start(services.store, plan, now=clock(), sender=SHOP_NUMBER, **options)
    return record


def drain(engine, steps: int = 200) -> None:
    for _ in range(steps):
        if not engine.run_once():
            return


def per_number(twilio) -> Counter:
    return Counter(m.to for m in twilio.sent())


def test_the_plan_counts_recipients_exclusions_quiet_hours_and_the_time(services, clock, twilio):
    store = services.store
    customers(store, *NUMBERS[:3])
    customers(store, NUMBERS[3], timezone="Asia/Tokyo")              # 01:00 in Tokyo: held, not skipped
    customers(store, "+12125550199", verified=False)                 # unverified
    customers(store, "+12125550198")
    store.record_opt_out("+12125550198", "STOP")                     # opted out
    customers(store, "+12125550197")
    store.record_outbound("SMx", "+12125550197", campaign="spring", occasion="o", status="sent", sent_at=clock(),
                          retention_days=1)
    store.record_receipt("SMx", "+12125550197", "undelivered", "30006", mark="undeliverable")
    customers(store, "+4915112345678")                               # Germany: the program texts the US
    plan = plan_of(services, clock)
    assert sorted(plan.recipients) == sorted(NUMBERS[:4])
    assert plan.excluded == {"unverified": 1, "opted_out": 1, "undeliverable": 1, "country": 1}
    assert plan.held == 1 and plan.first_allowed == dt.datetime(2026, 7, 14, 23, 0, tzinfo=dt.UTC)  # 08:00 Tokyo
    assert plan.duration_s == pytest.approx(4 / 100)
    assert not plan.refusals
    text = "\n".join(plan.lines())
    assert "recipients:  4" in text and "1 opted out" in text and "held to their next allowed moment" in text


def test_more_than_the_ten_hour_queue_or_the_daily_cap_is_refused_with_the_plan(services, clock):
    customers(services.store, *NUMBERS)
    slow = replace(services.book, program=replace(services.book.program, send_rate=0.0001))  # 5 texts: 13.9 h
    plan = plan_of(services, clock, book=slow)
    assert any("10-hour queue" in r and "21611" in r for r in plan.refusals)
    with_service = plan_of(services, clock, book=slow, messaging_service=True)
    assert not with_service.refusals and any("30001" in w for w in with_service.warnings)
    capped = replace(services.book, program=replace(services.book.program, daily_cap=4))
    plan = plan_of(services, clock, book=capped)
    assert any("larger than the day allows" in r for r in plan.refusals)


def test_an_audience_file_with_unconsented_numbers_is_refused_by_line(services, settings, campaigns_file, tmp_path,
                                                                       talon):
    customers(services.store, NUMBERS[0])
    audience = tmp_path / "weekend.csv"
    audience.write_text(f"phone,name\n{NUMBERS[0]},Ann\n{NUMBERS[1]},Bob\nnot a number,Cy\n")
    done = run_bot("send", "spring", "--audience", str(audience), env=env_of(settings, campaigns_file))
    assert done.returncode == 1
    assert f"{audience}:3: phone: no verified consent" in done.stderr
    assert f"{audience}:4: phone:" in done.stderr
    assert "refused:" in done.stdout and services.store.broadcasts() == []
    skipped = run_bot("send", "spring", "--audience", str(audience), "--skip-bad", "--dry-run",
                      env=env_of(settings, campaigns_file))
    assert skipped.returncode == 0 and "recipients:  1" in skipped.stdout


def test_dry_run_prints_the_plan_and_asks_talon_one_nothing(services, settings, campaigns_file, talon, twilio):
    customers(services.store, *NUMBERS)
    done = run_bot("send", "spring", "--audience", "all", "--dry-run", env=env_of(settings, campaigns_file))
    assert done.returncode == 0, done.stderr
    assert "recipients:  5" in done.stdout and "dry run" in done.stdout
    assert talon.calls() == [] and services.store.broadcasts() == [] and services.send_engine().queued() == 0


def test_an_interrupted_enqueue_and_a_killed_worker_leave_no_double(services, settings, campaigns_file, twilio,
                                                                     talon):
    store = services.store
    zone = f"Etc/GMT{-(12 - dt.datetime.now(dt.UTC).hour):+d}"  # about noon now: the real clock's hours allow it
    customers(store, *NUMBERS, timezone=zone)
    env = {**env_of(settings, campaigns_file), "JOB_LEASE_S": "1.5", "TWILIO_TIMEOUT_S": "2"}
    now = dt.datetime.now(dt.UTC)
    plan = broadcasts.plan_broadcast(services.book, store, services.book.by_slug("spring"),
                                     broadcasts.audience_all(store), at=None, now=now, messaging_service=False)
    record, _ = broadcasts.start(store, plan, now=now, sender=SHOP_NUMBER)
    # Interrupted enqueue: one batch of two, then "killed".
    assert broadcasts.enqueue(store, services.send_engine(), record, batch=2, stop_after=1) == 2
    assert store.broadcast(record.id).enqueued == 2
    # The same command again finds the same broadcast and goes on from the cursor.
    again = run_bot("send", "spring", "--audience", "all", env=env)
    assert again.returncode == 0, again.stderr
    assert f"broadcast {record.id}: the same command's broadcast" in again.stdout
    assert store.broadcast(record.id).enqueued == 5 and len(store.broadcasts()) == 1

    twilio.stall.set()  # the first text is recorded, then Twilio never answers: the worker is killed mid-send
    doomed = WorkerProcess(env).start()
    try:
        wait_until(lambda: len(twilio.sent()) >= 1, timeout=30, what="the worker's first send")
    finally:
        doomed.kill()
    twilio.stall.clear()
    twilio.release.set()
    worker = WorkerProcess(env).start()
    try:
        wait_until(lambda: broadcasts.progress(store, record.id, now=dt.datetime.now(dt.UTC), send_rate=100)
                   .state == "done", timeout=60, what="the broadcast done")
    finally:
        worker.stop()
    assert per_number(twilio) == Counter(dict.fromkeys(NUMBERS, 1))
    assert broadcasts.progress(store, record.id, now=dt.datetime.now(dt.UTC), send_rate=100).sent == 5
    listed = run_bot("sends", env=env)
    assert record.id in listed.stdout and "done" in listed.stdout


def test_a_second_host_racing_the_first_texts_no_one_twice(services, clock, twilio):
    customers(services.store, *NUMBERS)
    record = started(services, clock)
    engines = [services.send_engine(clock=clock, policy=SendPolicy(lease_s=30, max_hold_s=0)) for _ in range(2)]

    def host(engine):
        broadcasts.enqueue(services.store, engine, record, batch=1)
        drain(engine)

    threads = [threading.Thread(target=host, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    drain(engines[0])
    assert per_number(twilio) == Counter(dict.fromkeys(NUMBERS, 1))


def test_a_stop_mid_broadcast_stops_the_texts_to_that_number(services, clock, engine, twilio, text):
    customers(services.store, *NUMBERS)
    record = started(services, clock)
    broadcasts.enqueue(services.store, engine, record)
    assert engine.run_once()
    first = twilio.sent()[0].to
    stopper = next(n for n in NUMBERS if n != first)
    text("STOP", sender=stopper)
    drain(engine)
    assert twilio.sent(stopper) == [] and len(twilio.sent()) == 4
    shown = broadcasts.progress(services.store, record.id, now=clock(), send_rate=100)
    assert (shown.sent, shown.skipped, shown.state) == (4, 1, "done")


def test_cancel_skips_the_texts_not_sent_yet(services, settings, campaigns_file, clock, engine, twilio):
    customers(services.store, *NUMBERS)
    record = started(services, clock)
    broadcasts.enqueue(services.store, engine, record)
    assert engine.run_once()
    done = run_bot("send", "--cancel", record.id, env=env_of(settings, campaigns_file))
    assert done.returncode == 0 and "cancelled" in done.stdout
    drain(engine)
    assert len(twilio.sent()) == 1 and engine.queued() == 0
    shown = broadcasts.progress(services.store, record.id, now=clock(), send_rate=100)
    assert (shown.sent, shown.skipped, shown.state) == (1, 4, "cancelled")
    states = Counter(services.store.outbound_state(n, "spring", broadcast_occasion(record.id)).split(":")[0] + ":"
                     for n in NUMBERS)
    assert states == {"sent:": 1, "skipped:": 4}


def test_twilio_down_mid_broadcast_pauses_it_and_it_resumes_by_itself(services, clock, engine, twilio):
    customers(services.store, *NUMBERS)
    record = started(services, clock)
    broadcasts.enqueue(services.store, engine, record)
    assert engine.run_once() and len(twilio.sent()) == 1
    twilio.script(*[(500, twilio_error(500, 20500, "internal error"))] * 4)  # maybe sent: nothing certain
    for _ in range(4):
        engine.run_once()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=broadcasts.STALLED_S + 1)
    assert broadcasts.progress(services.store, record.id, now=later, send_rate=100).state == "paused"
    clock.now += dt.timedelta(seconds=60)  # past reconcile_after_s: each uncertain text is looked up, then sent
    occasion = broadcast_occasion(record.id)
    for number in NUMBERS:  # their retry is due on Redis's clock: bring it forward
        services.store.retry_later(f"spring|{number}|{occasion}", 0, queue="outbound")
    drain(engine)
    assert per_number(twilio) == Counter(dict.fromkeys(NUMBERS, 1))
    assert broadcasts.progress(services.store, record.id, now=clock(), send_rate=100).state == "done"


def test_a_broadcast_at_a_later_time_waits_for_it_in_the_queue(services, clock, engine, twilio):
    customers(services.store, *NUMBERS[:2])
    later = clock() + dt.timedelta(hours=2)
    plan = broadcasts.plan_broadcast(services.book, services.store, services.book.by_slug("spring"),
                                     broadcasts.audience_all(services.store), at=later, now=clock(),
                                     messaging_service=False)
    record, _ = broadcasts.start(services.store, plan, now=clock(), sender=SHOP_NUMBER)
    assert broadcasts.enqueue(services.store, engine, record) == 2
    assert broadcasts.progress(services.store, record.id, now=clock(), send_rate=100).state == "scheduled"
    drain(engine, steps=5)
    assert twilio.sent() == []  # held until `at`
    clock.now = later
    for number in NUMBERS[:2]:
        services.store.retry_later(f"spring|{number}|{broadcast_occasion(record.id)}", 0, queue="outbound")
    drain(engine)
    assert sorted(per_number(twilio)) == sorted(NUMBERS[:2])
    shown = broadcasts.progress(services.store, record.id, now=clock(), send_rate=100)
    assert shown.state == "done"
    assert "2/2 sent 2 skipped 0 failed 0 ETA 0:00:00 done" in send_cli._bar(shown)
