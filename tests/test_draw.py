"""The competition draw's pure core (bot/draw.py): commit, reveal, redraw, DRAW.json and verify."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import hmac
import json
import math
from collections import Counter

import pytest

from bot import draw
from bot.draw import DrawError

SECRET = "test-bot-secret"
CAMPAIGN = "spring-prize"
COMMITTED = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
REVEALED = COMMITTED + dt.timedelta(hours=1)
SEED = "5e" * 32
NUMBERS = [f"+1555{n:07d}" for n in range(40)]


def ids(numbers=NUMBERS) -> list[str]:
    return [draw.entry_id(SECRET, CAMPAIGN, number) for number in numbers]


def honest(winners: int = 3, public_value: str | None = None, entries: list[str] | None = None) -> draw.Draw:
    entries = ids() if entries is None else entries
    source = "drand quicknet round 1000" if public_value is not None else None
    commitment, seed = draw.commit(CAMPAIGN, entries, seed=SEED, public_source=source, at=COMMITTED)
    return draw.reveal(commitment, seed, entries, winners=winners, public_value=public_value, at=REVEALED)


def places(problems) -> str:
    return " | ".join(str(p) for p in problems)


def test_entry_ids_hold_no_number_and_differ_per_campaign_and_entry():
    number = "+15551234567"
    first = draw.entry_id(SECRET, CAMPAIGN, number)
    assert len(first) == 64 and "5551234567" not in first
    assert first == draw.entry_id(SECRET, CAMPAIGN, number)
    assert first != draw.entry_id(SECRET, "other-prize", number)
    assert first != draw.entry_id(SECRET, CAMPAIGN, number, nth=2)
    assert first != draw.entry_id("another-secret", CAMPAIGN, number)
    # Without the secret, hashing the number (the brute-forceable form) does not find the id.
    assert first != hashlib.sha256(number.encode()).hexdigest()
    index = draw.entry_index(SECRET, CAMPAIGN, [(number, 1), ("+15559876543", 1)])
    assert index[first] == number and len(index) == 2


def test_commitment_hashes_the_canonical_list_and_the_seed_bytes():
    entries = ids()
    commitment, seed = draw.commit(CAMPAIGN, reversed(entries), seed=SEED, at=COMMITTED)
    canonical = "".join(f"{e}\n" for e in sorted(entries)).encode()
    assert commitment.entries_sha256 == hashlib.sha256(canonical).hexdigest()
    assert commitment.seed_sha256 == hashlib.sha256(bytes.fromhex(SEED)).hexdigest()
    assert (commitment.entry_count, commitment.campaign, commitment.committed_at) == (
        40, CAMPAIGN, "2025-06-01T12:00:00Z"
    )
    assert seed == SEED


def test_commit_picks_a_fresh_secret_seed():
    (first, seed_a), (second, seed_b) = draw.commit(CAMPAIGN, ids()), draw.commit(CAMPAIGN, ids())
    assert len(seed_a) == 64 and seed_a != seed_b and first.seed_sha256 != second.seed_sha256


def test_same_inputs_same_winners_and_ranking_by_hmac_of_the_id():
    a, b = honest(), honest()
    assert a.winners == b.winners and a.ranking == b.ranking
    key = bytes.fromhex(SEED)
    by_hand = sorted(ids(), key=lambda e: (hmac.new(key, e.encode(), hashlib.sha256).digest(), e))
    assert list(a.winners) == by_hand[:3] and a.ranking == by_hand


def test_public_value_is_mixed_into_the_key_and_changes_the_ranking():
    plain, mixed = honest(), honest(public_value="a" * 64)
    assert plain.ranking != mixed.ranking
    key = hashlib.sha256(bytes.fromhex(SEED) + ("a" * 64).encode()).digest()
    assert mixed.ranking == sorted(ids(), key=lambda e: hmac.new(key, e.encode(), hashlib.sha256).digest())
    assert draw.verify(mixed.to_document()) == []


def test_honest_draw_verifies_through_its_json_text():
    document = json.loads(honest().dumps())
    assert draw.verify(document) == []
    assert draw.Draw.from_document(document).winners == honest().winners


@pytest.mark.parametrize("public_value", [None, "drand-randomness"])
def test_redraw_takes_the_next_ranked_and_verifies(public_value):
    drawn = honest(winners=2, public_value=public_value)
    first = draw.redraw(drawn, drawn.winners[1], reason="unclaimed after 14 days", at=REVEALED)
    assert first.replacements[-1].by == drawn.ranking[2]
    assert first.current_winners == [drawn.winners[0], drawn.ranking[2]]
    # The replacement can itself be replaced: the next rank again, never one already drawn.
    second = draw.redraw(first, drawn.ranking[2], reason="declined", at=REVEALED + dt.timedelta(days=1))
    assert second.current_winners == [drawn.winners[0], drawn.ranking[3]]
    assert draw.verify(json.loads(second.dumps())) == []
    assert draw.Draw.from_document(second.to_document()).replacements == second.replacements
    with pytest.raises(DrawError, match="not a current winner"):
        draw.redraw(second, drawn.winners[1], reason="again")


def test_redraw_refuses_when_the_reserve_list_is_empty():
    drawn = honest(winners=2, entries=ids()[:2])
    with pytest.raises(DrawError, match="none is left"):
        draw.redraw(drawn, drawn.winners[0], reason="unclaimed")


def test_refusals_name_what_is_wrong():
    entries = ids()
    commitment, seed = draw.commit(CAMPAIGN, entries, seed=SEED, at=COMMITTED)
    with pytest.raises(DrawError, match="no entries"):
        draw.commit(CAMPAIGN, [])
    with pytest.raises(DrawError, match="no entries"):
        draw.reveal(commitment, seed, [], winners=1)
    with pytest.raises(DrawError, match="cannot draw 0 winners from 40"):
        draw.reveal(commitment, seed, entries, winners=0)
    with pytest.raises(DrawError, match="cannot draw 41 winners from 40"):
        draw.reveal(commitment, seed, entries, winners=41)
    with pytest.raises(DrawError, match="seed is not the committed one"):
        draw.reveal(commitment, "00" * 32, entries, winners=1)
    with pytest.raises(DrawError, match="entry list changed since the commit"):
        draw.reveal(commitment, seed, entries[1:], winners=1)
    with pytest.raises(DrawError, match="named no public value"):
        draw.reveal(commitment, seed, entries, winners=1, public_value="chosen later")
    with pytest.raises(DrawError, match="more than once"):
        draw.commit(CAMPAIGN, entries + entries[:1])
    with pytest.raises(DrawError, match="not an entry id"):
        draw.commit(CAMPAIGN, ["+15551234567"])
    promised, _ = draw.commit(CAMPAIGN, entries, seed=SEED, public_source="drand round 7")
    with pytest.raises(DrawError, match="promised a public value"):
        draw.reveal(promised, seed, entries, winners=1)


def _set(path):
    def mutate(document, value):
        *parents, last = path
        for key in parents:
            document = document[key]
        document[last] = value(document[last]) if callable(value) else value
    return mutate


def _other_id(document):
    return draw.entry_id(SECRET, CAMPAIGN, "+15550000999")


#: (what is edited, the edit, the field the problems must name)
TAMPERING = [
    ("format", lambda d: _set(["format"])(d, 2), "format"),
    ("campaign", lambda d: _set(["commitment", "campaign"])(d, "other-prize"), "campaign"),
    ("committed_at", lambda d: _set(["commitment", "committed_at"])(d, "2025-06-01T11:00:00Z"), "committed_at"),
    ("public source", lambda d: _set(["commitment", "public_source"])(d, "drand round 9"), "public_source"),
    ("entry count", lambda d: _set(["commitment", "entry_count"])(d, 41), "commitment.entry_count"),
    ("entries hash", lambda d: _set(["commitment", "entries_sha256"])(d, "0" * 64), "commitment.entries_sha256"),
    ("seed hash", lambda d: _set(["commitment", "seed_sha256"])(d, "0" * 64), "commitment.seed_sha256"),
    ("commitment digest", lambda d: _set(["commitment_sha256"])(d, "0" * 64), "commitment_sha256"),
    ("seed", lambda d: _set(["seed"])(d, "00" * 32), "seed"),
    ("public value", lambda d: _set(["public_value"])(d, "b" * 64), "public_value"),
    ("entry added", lambda d: d["entries"].append(_other_id(d)), "entries"),
    ("entry added in order", lambda d: _set(["entries"])(d, sorted(d["entries"] + [_other_id(d)])), "entries"),
    ("entry removed", lambda d: d["entries"].pop(7), "entries"),
    ("entries reordered", lambda d: d["entries"].reverse(), "entries"),
    ("entry duplicated", lambda d: d["entries"].insert(1, d["entries"][0]), "entries"),
    ("entry not an id", lambda d: _set(["entries", 0])(d, "+15551234567"), "entries"),
    ("winner swapped", lambda d: _set(["winners", 0])(d, d["entries"][-1] if d["entries"][-1] not in d["winners"]
                                                       else d["entries"][0]), "winners"),
    ("winners reordered", lambda d: d["winners"].reverse(), "winners"),
    ("winner removed", lambda d: d["winners"].pop(), "winners"),
    ("winner count", lambda d: _set(["winner_count"])(d, 2), "winner_count"),
    ("revealed before commit", lambda d: _set(["revealed_at"])(d, "2025-05-01T00:00:00Z"), "revealed_at"),
    ("replacement by", lambda d: _set(["replacements", 0, "by"])(d, d["winners"][0]), "replacements[0].by"),
    ("replacement replaced", lambda d: _set(["replacements", 0, "replaced"])(d, d["replacements"][0]["by"]),
     "replacements[0].replaced"),
    ("replacements reordered", lambda d: d["replacements"].reverse(), "replacements[0].by"),
    ("replacement reason", lambda d: _set(["replacements", 0, "reason"])(d, ""), "replacements[0].reason"),
    ("replacement time", lambda d: _set(["replacements", 1, "at"])(d, "2025-01-01T00:00:00Z"), "replacements[1].at"),
    ("field added", lambda d: _set(["note"])(d, "x"), "note"),
    ("field removed", lambda d: d.pop("winners"), "winners"),
]


@pytest.fixture(scope="module")
def published() -> dict:
    drawn = honest(winners=3, public_value="a" * 64)
    drawn = draw.redraw(drawn, drawn.winners[0], reason="unclaimed", at=REVEALED + dt.timedelta(days=1))
    drawn = draw.redraw(drawn, drawn.winners[1], reason="declined", at=REVEALED + dt.timedelta(days=2))
    document = json.loads(drawn.dumps())
    assert draw.verify(document) == []
    return document


@pytest.mark.parametrize(("edit", "mutate", "field"), TAMPERING, ids=[t[0] for t in TAMPERING])
def test_an_edited_draw_file_fails_naming_the_field(published, edit, mutate, field):
    document = copy.deepcopy(published)
    mutate(document)
    assert document != published
    problems = draw.verify(document)
    assert problems, f"{edit}: verify found nothing"
    assert field in places(problems), places(problems)
    with pytest.raises(DrawError, match="does not hold"):
        draw.Draw.from_document(document)


def test_verify_reports_garbage_instead_of_raising():
    for garbage in (None, [], "text", {"format": 1}, {k: None for k in draw.verify.__globals__["_DOCUMENT_KEYS"]}):
        assert draw.verify(garbage), garbage


DRAWS, FIELD = 10_000, 100


def _win_counts(winner_of) -> Counter:
    seeds = (hashlib.sha256(f"fairness-{n}".encode()).hexdigest() for n in range(DRAWS))
    return Counter(winner_of(seed) for seed in seeds)


def _fair(counts: Counter) -> tuple[bool, float]:
    """Every entry within 5 sigma of its binomial mean, and the chi-square (99 degrees of freedom) below 200."""
    p = 1 / FIELD
    mean, sigma = DRAWS * p, math.sqrt(DRAWS * p * (1 - p))
    within = all(abs(counts[i] - mean) <= 5 * sigma for i in range(FIELD))
    chi_square = sum((counts[i] - mean) ** 2 / mean for i in range(FIELD))
    # df = 99: mean 99, sd 14; 200 is ~7 sd, reached by a fair ranking with p < 1e-8.
    return within and chi_square < 200, chi_square


def test_ranking_is_fair_over_ten_thousand_draws():
    entries = sorted(draw.entry_id(SECRET, CAMPAIGN, f"+1555000{n:04d}") for n in range(FIELD))
    position = {entry: index for index, entry in enumerate(entries)}
    counts = _win_counts(lambda seed: position[draw.rank(seed, entries)[0]])
    fair, chi_square = _fair(counts)
    assert fair, (chi_square, counts.most_common(3), min(counts.get(i, 0) for i in range(FIELD)))
    assert sum(counts.values()) == DRAWS

    # The same bounds catch a classic biased draw: one random byte taken modulo the entry count.
    biased = _win_counts(lambda seed: bytes.fromhex(seed)[0] % FIELD)
    assert not _fair(biased)[0]
