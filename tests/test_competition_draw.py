"""The competition draw through `bot draw` on the real Redis: commit, reveal, verify (tampered files too),
redraw, the refusals, and the winners texted once through the Twilio stand-in."""

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
from bot.services import Services
from tests.support.clock import Clock
from tests.support.competition import competition_file
from tests.support.webhooks import ACCOUNT_SID, AUTH_TOKEN, DEPLOYMENT, SHOP_NUMBER, new_sid

NUMBERS = [f"+1212555{n:04d}" for n in range(100, 104)] + [f"+1415555{n:04d}" for n in range(100, 104)]
#: 17:00 UTC: 12:00 in New York, 09:00 in Los Angeles, inside everyone's allowed hours.
NOON = dt.datetime(2026, 6, 2, 17, 0, tzinfo=dt.UTC)


@pytest.fixture
def campaigns_text() -> str:
    return competition_file()


@pytest.fixture
def ended(tmp_path):
    path = tmp_path / "ended.toml"
    path.write_text(competition_file(opens=dt.timedelta(hours=-2), closes=dt.timedelta(seconds=-1)))
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


def test_winners_are_texted_once_and_a_redraw_texts_only_the_next(capsys, tmp_path, env, entered, after, twilio):
    path, document = revealed(capsys, tmp_path)
    secret = env["BOT_SECRET"]
    pauses = []
    notify = dict(book=after.book, store=after.store, issuer=after.issuer, guard=after.guard, sms=after.sms,
                  secret=secret, clock=Clock(NOON), pause=pauses.append)
    drawn = competitions.kept_draw(after.store, after.book.by_slug("prize"))
    report = competitions.notify_winners(drawn, **notify)
    assert (report.sent, report.already) == (2, 0)
    winners = [number_of(secret, i) for i in document["winners"]]
    assert sorted(m.to for m in twilio.messages) == sorted(winners)
    assert all(m.body.startswith("You won the Acme prize! Entry ") for m in twilio.messages)
    assert pauses == [1.0]  # paced at the send rate: one pause between the two texts
    again = competitions.notify_winners(drawn, **notify)
    assert (again.sent, again.already) == (0, 2) and len(twilio.messages) == 2

    replaced = document["winners"][0]
    code, out, err = bot(capsys, "draw", "prize", "redraw", "--replace", replaced, "--reason", "unclaimed",
                         "--output", str(path))
    assert code == 0, err
    redrawn = json.loads(path.read_text())
    [replacement] = redrawn["replacements"]
    assert replacement["replaced"] == replaced and replacement["reason"] == "unclaimed"
    assert bot(capsys, "draw", "verify", str(path))[0] == 0
    report = competitions.notify_winners(competitions.kept_draw(after.store, after.book.by_slug("prize")), **notify)
    assert (report.sent, report.already) == (1, 1)
    assert twilio.messages[-1].to == number_of(secret, replacement["by"])


def test_opt_outs_and_quiet_hours_hold_winners_back(capsys, tmp_path, env, entered, after, twilio):
    revealed(capsys, tmp_path, winners=len(NUMBERS))  # everyone wins: each number's hours matter
    secret = env["BOT_SECRET"]
    stopped = NUMBERS[0]  # in New York
    entered.conversation.handle(InboundMessage(new_sid(), stopped, SHOP_NUMBER, "STOP"))
    drawn = competitions.kept_draw(after.store, after.book.by_slug("prize"))
    notify = dict(book=after.book, store=after.store, issuer=after.issuer, guard=after.guard, sms=after.sms,
                  secret=secret, pause=lambda s: None)
    # 13:00 UTC: 09:00 in New York, 06:00 in Los Angeles: only the New York winners now.
    early = competitions.notify_winners(drawn, **notify, clock=Clock(NOON - dt.timedelta(hours=4)))
    assert early.held == 4 and early.opted_out == 1 and early.sent == 3
    assert all(m.to.startswith("+1212") for m in twilio.messages) and stopped not in {m.to for m in twilio.messages}
    later = competitions.notify_winners(drawn, **notify, clock=Clock(NOON))
    assert (later.sent, later.already, later.opted_out) == (4, 3, 1) and len(twilio.messages) == 7


def test_consolation_texts_everyone_else_once(capsys, tmp_path, env, entered, after, twilio):
    revealed(capsys, tmp_path, winners=1)
    drawn = competitions.kept_draw(after.store, after.book.by_slug("prize"))
    report = competitions.notify_winners(drawn, book=after.book, store=after.store, issuer=after.issuer,
                                         guard=after.guard, sms=after.sms, secret=env["BOT_SECRET"],
                                         consolation=True, clock=Clock(NOON), pause=lambda s: None)
    assert report.sent == len(NUMBERS)
    bodies = [m.body for m in twilio.messages]
    assert sum(b.startswith("You won") for b in bodies) == 1
    assert sum(b.startswith("Not this time") for b in bodies) == len(NUMBERS) - 1


def test_entries_export_through_the_cli(capsys, env, entered):
    code, out, _ = bot(capsys, "entries", "export", "prize", "--hash-numbers")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0] == "entry,entry_id,number_hash,nth,channel,poster,at" and len(lines) == len(NUMBERS) + 1
    assert not any(n in out for n in NUMBERS)
