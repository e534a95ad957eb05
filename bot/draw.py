"""The competition draw: commit, reveal, redraw and verify, with no storage and no phone numbers.

The draw runs in two published steps (DESIGN.md, "Contract: competitions"):

1. **commit** freezes the entry list and picks a secret seed. It publishes the `Commitment`: the
   campaign, the entry count, the SHA-256 of the entry list's canonical form, the SHA-256 of the
   seed, the time, and (optionally) the public value it will mix in, named before anyone knows it
   (for example "drand quicknet round 12345678"). `Commitment.digest` fingerprints all of it in one line.
2. **reveal** publishes the seed and ranks every entry by HMAC-SHA256(key, entry id), ascending,
   ties broken by the id. The first N are the winners, the rest in order are the reserve list that
   `redraw` takes from when a prize goes unclaimed.

DRAW.json (`Draw.to_document`) holds everything needed to check the draw, and `verify` re-checks it
from the file alone. The definitions a third party needs to redo it by hand:

- **entry id**: lowercase hex HMAC-SHA256(key = the bot's secret, message = "{campaign}\\n{e164}\\n{nth}"),
  the sender's nth entry in that campaign. The secret is never published, so nobody can test phone
  numbers against the ids (a plain SHA-256 of a 10-digit number falls to brute force in minutes); the
  campaign in the message keeps one person's ids unlinkable across competitions. An entrant can only
  find their own id if the shop hands it to them (the entry reply, or `bot entries export
  --hash-numbers`, which should print these same ids).
- **canonical entry list**: the ids sorted ascending, each followed by "\\n", ASCII. A file lists them
  in that order; any other order is an edit. `entries_sha256` is the SHA-256 of those bytes, e.g.
  `jq -r '.entries[]' DRAW.json | sha256sum`.
- **seed**: 32 random bytes as 64 hex digits; `seed_sha256` is the SHA-256 of the 32 bytes.
- **ranking key**: the seed's bytes; with a public value, SHA-256(seed bytes || public value as UTF-8).
- **score** of an entry: HMAC-SHA256(ranking key, the id's ASCII), compared as bytes.
- **commitment digest**: the SHA-256 of the commitment's canonical JSON (keys sorted, no spaces, UTF-8).

What the file alone cannot show: that the commitment was published before the reveal (compare it
with the one published), that the public value is the named round's (ask drand), and the
replacements' reasons and times (the operator's word). A file with its last replacements removed is
the earlier file, and a valid one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import heapq
import hmac
import json
import logging
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .errors import DrawError, Problem

log = logging.getLogger(__name__)

FORMAT = 1
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_DOCUMENT_KEYS = {
    "format", "commitment", "commitment_sha256", "seed", "public_value", "revealed_at",
    "winner_count", "winners", "replacements", "entries",
}
_COMMITMENT_KEYS = {"campaign", "entry_count", "entries_sha256", "seed_sha256", "committed_at", "public_source"}
_REPLACEMENT_KEYS = {"replaced", "by", "reason", "at"}


def entry_id(secret: str | bytes, campaign: str, e164: str, nth: int = 1) -> str:
    """The published id of a sender's `nth` entry in `campaign`: it holds no phone number."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, f"{campaign}\n{e164}\n{nth}".encode(), hashlib.sha256).hexdigest()


def entry_index(secret: str | bytes, campaign: str, entrants: Iterable[tuple[str, int]]) -> dict[str, str]:
    """Entry id -> E.164 number for (number, nth) pairs: who to text once the ids have won."""
    return {entry_id(secret, campaign, e164, nth): e164 for e164, nth in entrants}


def canonical_entries(entries: Iterable[str]) -> bytes:
    """The frozen list's canonical bytes: ids sorted, one per line. Refuses a bad or repeated id."""
    ordered = sorted(entries)
    for before, after in zip(ordered, ordered[1:], strict=False):
        if before == after:
            raise DrawError(f"entry {after} appears more than once in the entry list")
    for entry in ordered:
        if not _HEX64.match(entry):
            raise DrawError(f"{entry!r} is not an entry id (64 lowercase hex digits)")
    return _lines(ordered)


def _lines(ids: list[str]) -> bytes:
    return "".join(f"{entry}\n" for entry in ids).encode("ascii")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _seed_bytes(seed: str) -> bytes:
    if not isinstance(seed, str) or not _HEX64.match(seed):
        raise DrawError("the seed must be 64 lowercase hex digits (32 bytes)")
    return bytes.fromhex(seed)


def _timestamp(at: dt.datetime | None) -> str:
    at = at or dt.datetime.now(dt.UTC)
    if at.tzinfo is None:
        raise DrawError("a draw's times must be timezone-aware")
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value.endswith("Z"):
        return None
    try:
        return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None


def _canonical_json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class Commitment:
    """What `commit` publishes before the draw: nothing in it reveals the seed or a number."""

    campaign: str
    entry_count: int
    entries_sha256: str
    seed_sha256: str
    committed_at: str
    public_source: str | None = None

    def to_document(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def digest(self) -> str:
        """One line to publish that pins every field above."""
        return _sha256(_canonical_json(self.to_document()))


def commit(
    campaign: str,
    entries: Iterable[str],
    *,
    seed: str | None = None,
    public_source: str | None = None,
    at: dt.datetime | None = None,
) -> tuple[Commitment, str]:
    """Freeze `entries` and pick the secret seed: (the commitment to publish, the seed to keep private).

    `public_source` names, before it exists, the public value `reveal` must mix in (a future drand
    round): naming it afterwards would let the operator pick among values already known.
    """
    canonical = canonical_entries(entries)
    if not canonical:
        raise DrawError(f"campaign {campaign}: no entries to draw from")
    if public_source is not None and not public_source.strip():
        raise DrawError("the public source, when given, must say which public value will be mixed in")
    seed = secrets.token_hex(32) if seed is None else seed
    commitment = Commitment(
        campaign=campaign,
        entry_count=canonical.count(b"\n"),
        entries_sha256=_sha256(canonical),
        seed_sha256=_sha256(_seed_bytes(seed)),
        committed_at=_timestamp(at),
        public_source=public_source,
    )
    return commitment, seed


def ranking_key(seed: str, public_value: str | None = None) -> bytes:
    """The HMAC key the entries are scored with: the seed, mixed with the public value if any."""
    key = _seed_bytes(seed)
    if public_value is None:
        return key
    return hashlib.sha256(key + public_value.encode("utf-8")).digest()


def rank(seed: str, entries: Iterable[str], public_value: str | None = None, top: int | None = None) -> list[str]:
    """The entries in draw order (only the first `top`, if given): ascending HMAC-SHA256(ranking key, id),
    ties broken by the id."""
    key = ranking_key(seed, public_value)

    def score(entry: str) -> bytes:
        # The score is 32 bytes, so score + id compares exactly as (score, id) does, without tuples.
        return hmac.digest(key, entry.encode("ascii"), "sha256") + entry.encode("ascii")

    if top is None:
        return sorted(entries, key=score)
    return heapq.nsmallest(top, entries, key=score)


@dataclass(frozen=True)
class Replacement:
    """A winner who did not claim the prize, replaced by the next entrant of the reserve list."""

    replaced: str
    by: str
    reason: str
    at: str


@dataclass(frozen=True)
class Draw:
    """A revealed draw; `to_document` is DRAW.json."""

    commitment: Commitment
    seed: str
    public_value: str | None
    revealed_at: str
    entries: tuple[str, ...]  # canonical order
    winners: tuple[str, ...]  # as drawn, in rank order
    replacements: tuple[Replacement, ...] = ()

    @functools.cached_property
    def ranking(self) -> list[str]:
        """Every entry in draw order: the winners, then the reserve list. Computed when first needed."""
        return rank(self.seed, self.entries, self.public_value)

    @property
    def current_winners(self) -> list[str]:
        """The winners with every replacement applied, in rank order of the prizes."""
        current = list(self.winners)
        for replacement in self.replacements:
            current[current.index(replacement.replaced)] = replacement.by
        return current

    def to_document(self) -> dict:
        return {
            "format": FORMAT,
            "commitment": self.commitment.to_document(),
            "commitment_sha256": self.commitment.digest,
            "seed": self.seed,
            "public_value": self.public_value,
            "revealed_at": self.revealed_at,
            "winner_count": len(self.winners),
            "winners": list(self.winners),
            "replacements": [dataclasses.asdict(r) for r in self.replacements],
            "entries": list(self.entries),
        }

    def dumps(self) -> str:
        """DRAW.json's text: the entries last, one per line, so the file stays readable and diffable."""
        document = self.to_document()
        entries = document.pop("entries")
        head = json.dumps(document, indent=2, ensure_ascii=False)[:-2]
        lines = ",\n".join(f'    "{entry}"' for entry in entries)
        return f'{head},\n  "entries": [\n{lines}\n  ]\n}}\n'

    @classmethod
    def from_document(cls, document: object) -> Draw:
        """The draw a DRAW.json holds, refused unless `verify` finds nothing wrong with it."""
        problems = verify(document)
        if problems:
            raise DrawError("the draw file does not hold: " + "; ".join(map(str, problems)))
        assert isinstance(document, dict)
        return cls(
            commitment=Commitment(**document["commitment"]),
            seed=document["seed"],
            public_value=document["public_value"],
            revealed_at=document["revealed_at"],
            entries=tuple(document["entries"]),
            winners=tuple(document["winners"]),
            replacements=tuple(Replacement(**r) for r in document["replacements"]),
        )


def reveal(
    commitment: Commitment,
    seed: str,
    entries: Iterable[str],
    *,
    winners: int,
    public_value: str | None = None,
    at: dt.datetime | None = None,
) -> Draw:
    """Draw `winners` entries, after checking the seed and the entries are the committed ones."""
    canonical = canonical_entries(entries)
    if not canonical:
        raise DrawError(f"campaign {commitment.campaign}: no entries to draw from")
    if _sha256(_seed_bytes(seed)) != commitment.seed_sha256:
        raise DrawError(f"campaign {commitment.campaign}: this seed is not the committed one "
                        f"(its SHA-256 is not {commitment.seed_sha256})")
    count = canonical.count(b"\n")
    if _sha256(canonical) != commitment.entries_sha256:
        raise DrawError(f"campaign {commitment.campaign}: the entry list changed since the commit "
                        f"({count} entries now, {commitment.entry_count} committed)")
    if not 1 <= winners <= count:
        raise DrawError(f"campaign {commitment.campaign}: cannot draw {winners} winners from {count} entries")
    if public_value is not None and not public_value:
        raise DrawError("the public value, when given, must not be empty")
    if commitment.public_source is not None and public_value is None:
        raise DrawError(f"campaign {commitment.campaign}: the commitment promised a public value "
                        f"({commitment.public_source}): give it")
    if commitment.public_source is None and public_value is not None:
        raise DrawError(f"campaign {commitment.campaign}: the commitment named no public value, and one chosen "
                        "after the commit could have been picked for its result")
    ids = tuple(canonical.decode("ascii").splitlines())
    drawn = rank(seed, ids, public_value, top=winners)
    draw = Draw(commitment, seed, public_value, _timestamp(at), ids, tuple(drawn))
    log.info("campaign %s: drew %d winners from %d entries", commitment.campaign, winners, count,
             extra={"campaign": commitment.campaign, "winners": winners, "entries": count})
    return draw


def redraw(draw: Draw, replace: str, *, reason: str, at: dt.datetime | None = None) -> Draw:
    """The draw with `replace` (a current winner) replaced by the next entrant of the reserve list."""
    if replace not in draw.current_winners:
        raise DrawError(f"entry {replace} is not a current winner of {draw.commitment.campaign}")
    if not reason.strip():
        raise DrawError("a redraw needs its reason (for example: prize unclaimed after 14 days)")
    rank_taken = len(draw.winners) + len(draw.replacements)
    if rank_taken >= len(draw.entries):
        raise DrawError(f"campaign {draw.commitment.campaign}: every entrant has been drawn, none is left")
    replacement = Replacement(replace, draw.ranking[rank_taken], reason, _timestamp(at))
    redrawn = dataclasses.replace(draw, replacements=draw.replacements + (replacement,))
    redrawn.__dict__["ranking"] = draw.ranking
    log.info("campaign %s: winner %s replaced by %s (rank %d): %s", draw.commitment.campaign, replace,
             replacement.by, rank_taken + 1, reason,
             extra={"campaign": draw.commitment.campaign, "replaced": replace, "by": replacement.by})
    return redrawn


def verify(document: object) -> list[Problem]:
    """Every way a DRAW.json (parsed) fails to hold, each naming its field; empty when it holds."""
    return _Verifier(document).problems


class _Verifier:
    """Re-derives a draw file's hashes, ranking, winners and replacements, noting each mismatch."""

    def __init__(self, document: object):
        self.problems: list[Problem] = []
        if not isinstance(document, Mapping):
            self.note("document", "not a JSON object")
            return
        if not self.keys("document", document, _DOCUMENT_KEYS):
            return
        if document["format"] != FORMAT:
            self.note("format", f"{document['format']!r} is not a draw file format this bot reads ({FORMAT})")
            return
        commitment = document["commitment"]
        if not isinstance(commitment, Mapping) or not self.keys("commitment", commitment, _COMMITMENT_KEYS):
            return
        self.check(document, commitment)

    def note(self, place: str, message: str) -> None:
        self.problems.append(Problem(place, message))

    def keys(self, place: str, mapping: Mapping, expected: set[str]) -> bool:
        for key in sorted(expected - mapping.keys()):
            self.note(f"{place}.{key}" if place != "document" else key, "missing")
        for key in sorted(mapping.keys() - expected, key=str):
            self.note(f"{place}.{key}" if place != "document" else str(key), "not part of a draw file")
        return mapping.keys() == expected

    def check(self, document: Mapping, commitment: Mapping) -> None:
        digest_holds = _sha256(_canonical_json(dict(commitment))) == document["commitment_sha256"]
        # When the commitment's digest holds, the commitment is as committed, so a mismatch between it
        # and the revealed side is the revealed side's edit; otherwise the commitment's.
        entries = self.check_entries(document["entries"])
        seed = self.check_seed(document["seed"], commitment, digest_holds)
        if entries is not None:
            self.check_entry_hash(document["entries"], commitment, digest_holds)
        if not digest_holds and not any(p.place.startswith("commitment.") for p in self.problems):
            self.note("commitment", "its SHA-256 does not match commitment_sha256: the campaign, committed_at "
                                    "or public_source (or commitment_sha256 itself) was edited")
        committed_at = self.check_public_value_and_times(document, commitment)
        if seed is None or entries is None:
            return
        public_value = document["public_value"] if isinstance(document["public_value"], str) else None
        replacements = document["replacements"]
        needed = len(document["winners"]) if isinstance(document["winners"], list) else 0
        needed += len(replacements) if isinstance(replacements, list) else 0
        # Only the ranks the file uses are needed: the winners and the replacements drawn after them.
        ranking = rank(seed, entries, public_value, top=needed)
        winners = self.check_winners(document, len(entries), ranking)
        if winners is not None:
            self.check_replacements(document["replacements"], winners, ranking, document["revealed_at"], committed_at)

    def check_entries(self, entries: object) -> list[str] | None:
        """The file's entry ids in canonical order (noting where the file's own order is not), or None."""
        if not isinstance(entries, list) or not entries:
            self.note("entries", "must be a non-empty list of entry ids")
            return None
        bad = [e for e in entries if not isinstance(e, str) or not _HEX64.match(e)]
        if bad:
            self.note("entries", f"{len(bad)} items are not entry ids (64 lowercase hex digits), "
                                 f"the first {bad[0]!r}")
            return None
        for index, (before, after) in enumerate(zip(entries, entries[1:], strict=False), start=1):
            if before >= after:
                if before == after:
                    self.note("entries", f"{after} appears more than once")
                else:
                    self.note("entries", f"not in the canonical ascending order (item {index + 1} sorts before "
                                         f"item {index})")
                return sorted(set(entries))
        return entries

    def check_seed(self, seed: object, commitment: Mapping, digest_holds: bool) -> str | None:
        if not isinstance(seed, str) or not _HEX64.match(seed):
            self.note("seed", "must be 64 lowercase hex digits (32 bytes)")
            return None
        if _sha256(bytes.fromhex(seed)) != commitment["seed_sha256"]:
            place = "seed" if digest_holds else "commitment.seed_sha256"
            self.note(place, "the seed's SHA-256 does not match commitment.seed_sha256")
        return seed

    def check_entry_hash(self, entries: list[str], commitment: Mapping, digest_holds: bool) -> None:
        if commitment["entry_count"] != len(entries):
            place = "entries" if digest_holds else "commitment.entry_count"
            self.note(place, f"the file lists {len(entries)} entries, commitment.entry_count is "
                             f"{commitment['entry_count']!r}")
        if _sha256(_lines(entries)) != commitment["entries_sha256"]:
            place = "entries" if digest_holds else "commitment.entries_sha256"
            self.note(place, "the entry list's SHA-256 does not match commitment.entries_sha256")

    def check_public_value_and_times(self, document: Mapping, commitment: Mapping) -> dt.datetime | None:
        value, source = document["public_value"], commitment["public_source"]
        if value is not None and (not isinstance(value, str) or not value):
            self.note("public_value", "must be a non-empty string or null")
        elif source is None and value is not None:
            self.note("public_value", "the commitment named no public value to mix in")
        elif source is not None and value is None:
            self.note("public_value", f"missing: the commitment promised one ({source})")
        committed_at = _parse_time(commitment["committed_at"])
        if committed_at is None:
            self.note("commitment.committed_at", "not a UTC time like 2025-06-01T12:00:00Z")
        revealed_at = _parse_time(document["revealed_at"])
        if revealed_at is None:
            self.note("revealed_at", "not a UTC time like 2025-06-01T12:00:00Z")
        elif committed_at is not None and revealed_at < committed_at:
            self.note("revealed_at", "before the commitment")
        return committed_at

    def check_winners(self, document: Mapping, count: int, ranking: list[str]) -> list[str] | None:
        winners, winner_count = document["winners"], document["winner_count"]
        if not isinstance(winner_count, int) or isinstance(winner_count, bool) or not 1 <= winner_count <= count:
            self.note("winner_count", f"must be a whole number from 1 to the {count} entries")
            return None
        if not isinstance(winners, list) or len(winners) != winner_count:
            self.note("winners", f"must list winner_count ({winner_count}) entry ids")
            return None
        for position, (drawn, listed) in enumerate(zip(ranking, winners, strict=False), start=1):
            if drawn != listed:
                self.note("winners", f"not the ranking that the seed and public_value give: winner {position} "
                                     f"is {drawn}, the file says {listed!r}")
                return None
        return list(winners)

    def check_replacements(self, replacements: object, winners: list[str], ranking: list[str],
                           revealed_at: object, committed_at: dt.datetime | None) -> None:
        if not isinstance(replacements, list):
            self.note("replacements", "must be a list")
            return
        current, last_time = list(winners), _parse_time(revealed_at) or committed_at
        for index, replacement in enumerate(replacements):
            place = f"replacements[{index}]"
            if not isinstance(replacement, Mapping) or not self.keys(place, replacement, _REPLACEMENT_KEYS):
                if not isinstance(replacement, Mapping):
                    self.note(place, "not a JSON object")
                return
            rank_taken = len(winners) + index
            if rank_taken >= len(ranking):
                self.note(place, "more replacements than entrants left to draw")
                return
            if replacement["by"] != ranking[rank_taken]:
                self.note(f"{place}.by", f"the next-ranked entrant (rank {rank_taken + 1}) is {ranking[rank_taken]}, "
                                         f"the file says {replacement['by']!r}")
                return
            if replacement["replaced"] not in current:
                self.note(f"{place}.replaced", f"{replacement['replaced']!r} is not a winner at that point")
                return
            current[current.index(replacement["replaced"])] = replacement["by"]
            if not isinstance(replacement["reason"], str) or not replacement["reason"].strip():
                self.note(f"{place}.reason", "must say why the winner was replaced")
            at = _parse_time(replacement["at"])
            if at is None:
                self.note(f"{place}.at", "not a UTC time like 2025-06-01T12:00:00Z")
            elif last_time is not None and at < last_time:
                self.note(f"{place}.at", "earlier than the reveal or the replacement before it")
            else:
                last_time = at
