"""The competition draw through `bot draw` on the real Redis: commit, reveal, verify (tampered files too),
redraw, the refusals, and the winners texted once through the send engine (in process, on an injected clock)
and the Twilio stand-in."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging

import pytest

from bot import competitions
from bot import draw as draws
from bot.cli import main
from bot.conversation import InboundMessage
from bot.sending import SendPolicy
from bot.services import Services
from tests.support.clock import Clock
from tests.support.competition import competition_file
from tests.support.sending import drain
from tests.support.webhooks import ACCOUNT_SID, AUTH_TOKEN, DEPLOYMENT, SHOP_NUMBER, new_sid

NUMBERS = [f"+1212555{n:04d}" for n in range(100, 104)] + [f"+1415555{n:04d}" for n in range(100, 104)]
#: 17:00 UTC: 12:00 in New York, 09:00 in Los Angeles, inside everyone's allowed hours.
NOON = dt.datetime(2026, 6, 2, 17, 0, tzinfo=dt.UTC)
TERMS = 'terms_url = "https://example.com/sms-terms"\n'


@pytest.fixture
def campaigns_text() -> str:
    return competition_file()


@pytest.fixture
def ended(tmp_path):
    path = tmp_path / "ended.toml"
    text = competition_file(opens=dt.timedelta(hours=-2), closes=dt.timedelta(seconds=-1))
    path.write_text(text.replace(TERMS, TERMS + "send_rate = 100\n"))  # the send engine's pace: no waiting
    return path


@pytest.fixture
def env(monkeypatch, settings, ended):
    """The environment `bot draw` runs in: the test's Redis prefix, stand-ins, and the competition ended."""
    values = {
        "REDIS_URL": settings.redis_url, "REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "TALON_API_KEY": "test-cep-key", "TALON_DEPLOYMENT": DEPLOYMENT, "TALON_BASE_URL": settings.talon_base_url,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_API_URL": settings.twilio_api_url,
        "BOT_SECRET": settings.bot_secret, "PUBLIC_BASE_URL": settings.public_base_url, "CAMPAIGNS_FILE": str(ended),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def clock() -> Clock:
    return Clock(NOON)


@pytest.fixture
def engine(after, clock):
    # max_hold_s=0: a held text comes due again at once, so the injected clock decides (no sleeping).
    return after.send_engine(clock=clock, policy=SendPolicy(lease_s=30, max_hold_s=0, reconcile_after_s=5))


@pytest.fixture
def entered(services):
    for number in NUMBERS:
        reply = services.conversation.handle(InboundMessage(new_sid(), number, SHOP_NUMBER, "WIN"))
        assert reply.outcome == "entered"
    return services


@pytest.fixture
def after(settings, ended):
    """The services as they are after ends_at (the campaign file with the window over)."""
    services = Services.build(dataclasses.replace(settings, campaigns_file=ended))
    yield services
    services.issuer.close()


def bot(capsys, *args: str) -> tuple[int, str, str]:
    """`bot ARGS` in this process; the root logger's handlers are left as they were (main configures logging)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        code = main(list(args))
    finally:
        root.handlers[:], root.level = handlers, level
    out, err = capsys.readouterr()
    return code, out, err


def revealed(capsys, tmp_path, winners: int = 2):
    assert bot(capsys, "draw", "prize", "commit")[0] == 0
    path = tmp_path / "DRAW.json"
    code, out, err = bot(capsys, "draw", "prize", "reveal", "--winners", str(winners), "--output", str(path))
    assert code == 0, err
    return path, json.loads(path.read_text())


def number_of(secret: str, entry_id: str) -> str:
    return draws.entry_index(secret, "prize", [(n, 1) for n in NUMBERS])[entry_id]


def test_commit_prints_the_hashes_and_reveal_writes_a_draw_that_verifies(capsys, tmp_path, env, entered):
    code, out, err = bot(capsys, "draw", "prize", "commit")
    assert code == 0, err
    ids = [draws.entry_id(env["BOT_SECRET"], "prize", n) for n in NUMBERS]
    assert draws.canonical_entries(ids) and f"entries:                {len(NUMBERS)}" in out
    commitment = json.loads(entered.store.draw_state("prize").commitment)
    assert f"seed SHA-256:           {commitment['seed_sha256']}" in out
    assert f"entry list SHA-256:     {commitment['entries_sha256']}" in out
    path = tmp_path / "DRAW.json"
    code, out, err = bot(capsys, "draw", "prize", "reveal", "--winners", "2", "--output", str(path))
    assert code == 0, err
    document = json.loads(path.read_text())
    assert sorted(document["entries"]) == sorted(ids) and len(document["winners"]) == 2
    assert document["commitment"]["seed_sha256"] == commitment["seed_sha256"]
    assert not any(n in path.read_text() for n in NUMBERS)  # no phone number in the published file
    code, out, _ = bot(capsys, "draw", "verify", str(path))
    assert code == 0 and "the draw holds" in out


@pytest.mark.parametrize(("field", "edit", "named"), [
    ("winners", lambda d: d["winners"].reverse(), "winners"),
    ("seed", lambda d: d.update(seed="0" * 64), "seed"),
    ("entries", lambda d: d["entries"].pop(), "entries"),
    ("commitment", lambda d: d["commitment"].update(committed_at="2020-01-01T00:00:00Z"), "commitment"),
])
def test_verify_fails_naming_the_edited_field(capsys, tmp_path, env, entered, field, edit, named):
    path, document = revealed(capsys, tmp_path)
    edit(document)
    path.write_text(json.dumps(document))
    code, _, err = bot(capsys, "draw", "verify", str(path))
    assert code == 1
    assert f"{path}: {named}" in err and "does NOT hold" in err


def test_a_draw_before_the_end_twice_or_without_entries_is_refused(capsys, tmp_path, env, entered, monkeypatch,
                                                                  campaigns_file, settings):
    monkeypatch.setenv("CAMPAIGNS_FILE", str(campaigns_file))  # the window still open
    code, _, err = bot(capsys, "draw", "prize", "commit")
    assert code == 1 and "the draw comes after ends_at" in err
    monkeypatch.setenv("CAMPAIGNS_FILE", env["CAMPAIGNS_FILE"])
    assert bot(capsys, "draw", "prize", "commit")[0] == 0
    code, _, err = bot(capsys, "draw", "prize", "commit")
    assert code == 1 and "already committed" in err
    path = tmp_path / "DRAW.json"
    assert bot(capsys, "draw", "prize", "reveal", "--winners", "1", "--output", str(path))[0] == 0
    code, _, err = bot(capsys, "draw", "prize", "reveal", "--winners", "1", "--output", str(path))
    assert code == 1 and "already revealed" in err
    monkeypatch.setenv("REDIS_KEY_PREFIX", settings.redis_key_prefix + "-empty")
    code, _, err = bot(capsys, "draw", "prize", "commit")
    assert code == 1 and "no entries" in err
    code, _, err = bot(capsys, "draw", "spring", "commit")
    assert code == 1 and "not a competition" in err


def test_entries_after_the_commit_are_refused(capsys, env, entered, after):
    assert bot(capsys, "draw", "prize", "commit")[0] == 0
    late = entered.store.enter("prize", "+12125550199", channel="sms", poster="none",
                               starts_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
                               ends_at=dt.datetime(2099, 1, 1, tzinfo=dt.UTC), most=1)
    assert late.status == "ended"


def notify(after, engine, secret: str, **options) -> competitions.NotifyReport:
    drawn = competitions.kept_draw(after.store, after.book.by_slug("prize"))
    return competitions.notify_winners(drawn, book=after.book, store=after.store, engine=engine, secret=secret,
                                       **options)


def winner_text(services, number: str) -> str:
    """`winner_reply` with the entry's number (NUMBERS entered in order) and the coupon its entry got."""
    code = services.store.cached_code(number, "prize")
    return f"You won the Acme prize! Entry {NUMBERS.index(number) + 1}, code {code}. Reply to claim."


def test_winners_are_texted_once_and_a_redraw_texts_only_the_next(capsys, tmp_path, env, entered, after, engine,
                                                                  twilio, talon):
    path, document = revealed(capsys, tmp_path)
    secret = env["BOT_SECRET"]
    coupons = talon.coupons_created()
    code, out, err = bot(capsys, "draw", "prize", "notify")
    assert code == 0, err
    assert "campaign prize: 2 text(s) queued, 0 queued or sent before; `bot worker` sends them" in out
    assert twilio.messages == []  # queued: the engine's worker sends them
    drain(engine)
    winners = sorted(number_of(secret, i) for i in document["winners"])
    assert sorted(m.to for m in twilio.messages) == winners
    # Each with its entry's number and the coupon its entry got: Talon.One retrieved, not created, it.
    assert sorted(m.body for m in twilio.messages) == sorted(winner_text(entered, n) for n in winners)
    assert talon.coupons_created() == coupons

    again = notify(after, engine, secret)  # a second notify texts nobody twice
    assert (again.queued, again.already) == (0, 2)
    drain(engine)
    assert len(twilio.messages) == 2

    replaced = document["winners"][0]
    code, out, err = bot(capsys, "draw", "prize", "redraw", "--replace", replaced, "--reason", "unclaimed",
                         "--output", str(path))
    assert code == 0, err
    redrawn = json.loads(path.read_text())
    [replacement] = redrawn["replacements"]
    assert replacement["replaced"] == replaced and replacement["reason"] == "unclaimed"
    assert bot(capsys, "draw", "verify", str(path))[0] == 0
    report = notify(after, engine, secret)
    assert (report.queued, report.already) == (1, 1)
    drain(engine)
    assert len(twilio.messages) == 3 and twilio.messages[-1].to == number_of(secret, replacement["by"])


def test_an_opt_out_at_send_time_and_quiet_hours_hold_winners_back(capsys, tmp_path, env, entered, after, engine,
                                                                    clock, twilio):
    revealed(capsys, tmp_path, winners=len(NUMBERS))  # everyone wins: each number's hours matter
    secret = env["BOT_SECRET"]
    # 13:00 UTC: 09:00 in New York, 06:00 in Los Angeles: only the New York winners now.
    clock.now = NOON - dt.timedelta(hours=4)
    assert notify(after, engine, secret).queued == len(NUMBERS)
    stopped = NUMBERS[0]  # in New York: STOP after the notify, before the worker sends
    entered.conversation.handle(InboundMessage(new_sid(), stopped, SHOP_NUMBER, "STOP"))
    drain(engine)
    assert sorted(m.to for m in twilio.messages) == NUMBERS[1:4]
    occasion = f"winner:{competitions.draw_id(competitions.kept_draw(after.store, after.book.by_slug('prize')))}"
    assert after.store.outbound_state(stopped, "prize", occasion) == "skipped:opted_out"
    assert all(after.store.outbound_state(n, "prize", occasion) == "queued" for n in NUMBERS[4:])  # held
    clock.now = NOON  # 09:00 in Los Angeles
    drain(engine)
    assert sorted(m.to for m in twilio.messages) == NUMBERS[1:] and stopped not in {m.to for m in twilio.messages}


def test_a_landing_form_entrant_is_told_they_won_like_a_texter(capsys, tmp_path, env, services, after, engine,
                                                               twilio):
    # The free alternative method of entry: the form's entry (channel "web") verifies no consent.
    form_entrant = NUMBERS[0]
    entry = services.conversation.handle(InboundMessage("WEB" + new_sid(), form_entrant, SHOP_NUMBER, "WIN",
                                                        channel="web"))
    assert entry.outcome == "entered"
    assert not after.store.recipient(form_entrant, "prize", "winner:x").consented
    revealed(capsys, tmp_path, winners=1)
    assert notify(after, engine, env["BOT_SECRET"]).queued == 1
    drain(engine)
    [sent] = twilio.messages
    assert sent.to == form_entrant and sent.body.startswith("You won the Acme prize! Entry 1, code ")


def test_consolation_texts_everyone_else_once(capsys, tmp_path, env, entered, after, engine, twilio):
    revealed(capsys, tmp_path, winners=1)
    report = notify(after, engine, env["BOT_SECRET"], consolation=True)
    assert report.queued == len(NUMBERS)
    drain(engine)
    bodies = [m.body for m in twilio.messages]
    assert sum(b.startswith("You won") for b in bodies) == 1
    assert sum(b.startswith("Not this time") for b in bodies) == len(NUMBERS) - 1
    assert notify(after, engine, env["BOT_SECRET"], consolation=True).already == len(NUMBERS)
    drain(engine)
    assert len(twilio.messages) == len(NUMBERS)


def test_entries_export_through_the_cli(capsys, env, entered):
    code, out, _ = bot(capsys, "entries", "export", "prize", "--hash-numbers")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0] == "entry,entry_id,number_hash,nth,channel,poster,at" and len(lines) == len(NUMBERS) + 1
    assert not any(n in out for n in NUMBERS)
