"""The durable STOP journal: every compliance word, on this host's disk, before Redis hears of it.

Redis may be unreachable when a STOP arrives, or come back empty (no
persistence, a failover that lost writes). Either would forget an opt-out, and
a text after a STOP costs a shop $500-1,500. So every STOP and START is first
appended here (one JSON line, fsynced) with its MessageSid, the normalised
number and its arrival time, then written to Redis:

- while Redis is unreachable the event also goes to the pending file, replayed
  in arrival order by the first request or worker tick that reaches Redis again;
- when the store's generation marker is missing (Redis lost its data), the whole
  journal is replayed before anything is sent, and the marker set again;
- before serving a number whose latest event here is a STOP, `Store.begin` checks
  in its own round trip that Redis holds it (or a newer event), and when Redis
  lost it, that STOP is written to Redis again first: this host never texts a
  number that said STOP to it, whatever Redis forgot.

Redis applies an event only when it is newer than the one it holds (arrival
time, optout.lua), so a replayed START never undoes a later STOP. The journal
is compacted to the last few events per number and bounded in numbers. It is
per host (one folder, `JOURNAL_DIR`); processes on a host share it under a file
lock. What an operator must keep is in the README ("Consent and opt-outs").
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import fcntl
import json
import logging
import mmap
import os
import secrets
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from .errors import ConfigError, StoreUnavailable
from .store import ConsentEvent, Store

log = logging.getLogger(__name__)

#: Compaction starts when the journal file grows past this many bytes.
MAX_BYTES = 8 * 1024 * 1024
#: Numbers kept after compaction; beyond it the oldest numbers whose latest event is a START go first.
MAX_NUMBERS = 200_000
#: Events kept per number after compaction: their MessageSids make a captured START replayed later a
#: replay, even after Redis lost its data (replay_all stores every kept MessageSid again).
KEEP_PER_NUMBER = 64
#: A reader looks at the files themselves at least this often, whatever `ChangeCounter` says: a writer
#: that died between its fsync and its bump is seen within this many seconds.
RECHECK_S = 1.0


@dataclass(frozen=True)
class ComplianceRecord:
    """One STOP or START as it arrived."""

    arrived_us: int
    sid: str
    sender: str
    state: Literal["out", "in"]
    word: str
    channel: str
    #: the reply sent, stored with the MessageSid so a later Twilio retry gets the same bytes
    reply: str = ""

    def line(self) -> bytes:
        return (json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":")) + "\n").encode()

    @classmethod
    def parse(cls, line: bytes) -> ComplianceRecord:
        return cls(**json.loads(line))

    def consent_event(self) -> ConsentEvent:
        at = dt.datetime.fromtimestamp(self.arrived_us / 1_000_000, dt.UTC)
        return ConsentEvent("opt_out" if self.state == "out" else "opt_in", at, self.word, "", self.channel)


class ChangeCounter:
    """A number every process of this host maps into memory, bumped after each write to the journal.

    Every text asks whether another process wrote to the journal (a STOP in
    the log, an event left pending). Asking the files is an os.stat each, and
    in a system call the other threads of a gunicorn worker take the GIL: under
    `make bench`'s repeat texters (strace -c), the two stats per text came with
    15 of its 122 futex calls. Reading this counter is no system call. Writers
    bump it under the journal's file lock (`Journal._locked`), after their
    fsync; a reader reads it before it looks at the files, so a write that
    lands after the read moves the counter past what the reader saw.
    """

    _VALUE = struct.Struct("<Q")

    def __init__(self, path: Path):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < self._VALUE.size:  # new: another process may be here too, and
                os.ftruncate(fd, self._VALUE.size)  # extending a file already this long changes nothing
            self._map = mmap.mmap(fd, self._VALUE.size)
        finally:
            os.close(fd)

    def value(self) -> int:
        return self._VALUE.unpack_from(self._map)[0]

    def bump(self) -> None:
        """Only under the journal's file lock: the read and the write are not one step."""
        self._VALUE.pack_into(self._map, 0, (self.value() + 1) % 2**64)


class Journal:
    """This host's compliance journal in `folder` (created; ConfigError when it cannot be written)."""

    def __init__(self, folder: Path, *, max_bytes: int = MAX_BYTES, max_numbers: int = MAX_NUMBERS,
                 clock: Callable[[], float] = time.monotonic):
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self.max_numbers = max_numbers
        self.clock = clock
        self.log_path = self.folder / "compliance.log"
        self.pending_path = self.folder / "pending.log"
        self._log_file, self._pending_file = str(self.log_path), str(self.pending_path)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for path in (self.log_path, self.pending_path, self.folder / ".lock"):
                with open(path, "ab"):
                    pass
            self._changes = ChangeCounter(self.folder / "changes")
        except OSError as exc:
            raise ConfigError(f"JOURNAL_DIR: cannot write the STOP journal in {str(self.folder)!r}: "
                              f"{exc.strerror or exc}") from None
        #: (counter, clock) when the log and the pending file were last looked at; never, to begin with.
        self._log_seen: tuple[int, float] | None = None
        self._pending_seen: tuple[int, float] | None = None
        self._pending = False
        self._thread_lock = threading.Lock()
        self._last_us = 0
        self._latest: dict[str, ComplianceRecord] = {}
        self._recent: dict[str, collections.deque[ComplianceRecord]] = {}
        self._inode: int | None = None
        self._offset = 0
        self._compacted_size = 0

    # -- writing

    def arrival(self) -> int:
        """An arrival time in microseconds: the wall clock, strictly increasing within this process."""
        with self._thread_lock:
            self._last_us = max(time.time_ns() // 1000, self._last_us + 1)
            return self._last_us

    def record(self, record: ComplianceRecord, *, pending: bool) -> bool:
        """Append `record` (to the pending file too when Redis did not take it), fsynced.
        False when its MessageSid is already in the journal (a replayed delivery)."""
        with self._locked():
            self._refresh()
            if any(r.sid == record.sid for r in self._recent.get(record.sender, ())):
                return False
            line = record.line()
            _append(self.log_path, line)
            if pending:
                _append(self.pending_path, line)
            self._index(record)
            self._offset += len(line)
            if self._offset > max(self.max_bytes, 2 * self._compacted_size):
                self._compact()
        return True

    # -- reading

    def latest(self, sender: str) -> ComplianceRecord | None:
        """The latest STOP or START this host journalled for `sender`."""
        with self._thread_lock:
            self._refresh()
            return self._latest.get(sender)

    def has_pending(self) -> bool:
        """Whether some event waits in the pending file (asked before every text)."""
        mark = self._due(self._pending_seen)
        if mark is None:
            return self._pending
        try:
            pending = os.stat(self._pending_file).st_size > 0
        except OSError:
            pending = False
        self._pending, self._pending_seen = pending, mark
        return pending

    def _due(self, seen: tuple[int, float] | None) -> tuple[int, float] | None:
        """None when no process wrote to the journal since `seen`, and that is recent; else what to keep
        once the files are read: the counter as it is now (read before them) and the time."""
        mark = (self._changes.value(), self.clock())
        if seen is not None and seen[0] == mark[0] and mark[1] - seen[1] < RECHECK_S:
            return None
        return mark

    def records(self) -> list[ComplianceRecord]:
        """Every journalled event (after compaction: the last few per number), in arrival order."""
        with self._thread_lock:
            self._refresh()
            return sorted((r for recent in self._recent.values() for r in recent), key=lambda r: r.arrived_us)

    # -- replaying into Redis

    def replay_pending(self, store: Store, retention_days: int) -> int:
        """Write the events Redis missed, in arrival order; those it did not take stay pending."""
        with self._locked():
            records = sorted(_read(self.pending_path), key=lambda r: r.arrived_us)
            done = 0
            try:
                for record in records:
                    replay(store, record, retention_days)
                    done += 1
            finally:
                _rewrite(self.pending_path, records[done:])
        if done:
            log.warning("replayed %d journalled STOP/START event(s) into the store", done)
        return done

    def replay_all(self, store: Store, retention_days: int) -> int:
        """Write every journalled event again (Redis lost its data); newer events in Redis win."""
        records = self.records()
        for record in records:
            replay(store, record, retention_days)
        return len(records)

    # -- the file

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """The writers' lock (threads and processes), and the counter bumped after every write under it."""
        with self._thread_lock, open(self.folder / ".lock", "ab") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                self._changes.bump()
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _refresh(self) -> None:
        """Read what other processes appended (or reload after another compacted the file)."""
        mark = self._due(self._log_seen)
        if mark is None:
            return
        try:
            stat = os.stat(self._log_file)
        except OSError:
            return
        self._log_seen = mark
        if stat.st_ino != self._inode or stat.st_size < self._offset:
            self._inode, self._offset = stat.st_ino, 0
            self._latest.clear()
            self._recent.clear()
        if stat.st_size == self._offset:
            return
        with open(self.log_path, "rb") as file:
            file.seek(self._offset)
            data = file.read()
        end = data.rfind(b"\n") + 1  # a line being written by another process is read next time
        for line in data[:end].splitlines():
            with contextlib.suppress(ValueError, TypeError):
                self._index(ComplianceRecord.parse(line))
        self._offset += end

    def _index(self, record: ComplianceRecord) -> None:
        recent = self._recent.setdefault(record.sender, collections.deque(maxlen=KEEP_PER_NUMBER))
        recent.append(record)
        current = self._latest.get(record.sender)
        if current is None or record.arrived_us >= current.arrived_us:
            self._latest[record.sender] = record

    def _compact(self) -> None:
        """Keep the last few events per number, and at most `max_numbers` numbers (STOPs last to go)."""
        senders = sorted(self._latest, key=lambda s: (self._latest[s].state == "out", self._latest[s].arrived_us))
        dropped = senders[: max(0, len(senders) - self.max_numbers)]
        for sender in dropped:
            del self._latest[sender], self._recent[sender]
        if any(self._latest[s].state == "out" for s in dropped):
            log.critical("STOP journal over %d numbers: oldest opt-outs dropped; raise MAX_NUMBERS", self.max_numbers)
        kept = sorted((r for recent in self._recent.values() for r in recent), key=lambda r: r.arrived_us)
        _rewrite(self.log_path, kept)
        stat = self.log_path.stat()
        self._inode, self._offset = stat.st_ino, stat.st_size
        self._compacted_size = stat.st_size


def replay(store: Store, record: ComplianceRecord, retention_days: int) -> str:
    """One journalled event into the store: 'known', 'applied' or 'stale' (see Store.replay_compliance)."""
    return store.replay_compliance(
        record.sid, record.sender, record.state, arrived_us=record.arrived_us, word=record.word,
        reply=record.reply, consent=record.consent_event(), consent_retention_days=retention_days,
    )


class ConsentKeeper:
    """Keeps Redis holding every journalled opt-out: called before each text and each worker tick.

    Pending events are replayed as soon as Redis answers; the generation marker
    is read at most every `every_s` seconds (and right after Redis failed), and
    when it is missing the whole journal is replayed before it is set again.
    """

    def __init__(self, journal: Journal, store: Store, retention_days: int, *, every_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self.journal = journal
        self.store = store
        self.retention_days = retention_days
        self.every_s = every_s
        self.clock = clock
        self._checked_at: float | None = None
        self._lock = threading.Lock()

    def store_failed(self) -> None:
        """Redis just failed: it may come back empty, so read the marker on the next call."""
        self._checked_at = None

    def keep(self) -> None:
        """Replay what Redis misses; quiet when Redis is still unreachable (the caller will find out)."""
        try:
            if self.journal.has_pending():
                self.journal.replay_pending(self.store, self.retention_days)
            now = self.clock()
            if self._checked_at is not None and now - self._checked_at < self.every_s:
                return
            with self._lock:
                if self.store.generation() is None:
                    count = self.journal.replay_all(self.store, self.retention_days)
                    log.log(logging.WARNING if count else logging.INFO, "store generation marker missing (a new "
                            "or emptied Redis): replayed %d journalled STOP/START event(s)", count)
                    self.store.set_generation(secrets.token_hex(8))
                self._checked_at = now
        except StoreUnavailable:
            self._checked_at = None


def _append(path: Path, line: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def _read(path: Path) -> list[ComplianceRecord]:
    records = []
    for line in path.read_bytes().splitlines():
        with contextlib.suppress(ValueError, TypeError):
            records.append(ComplianceRecord.parse(line))
    return records


def _rewrite(path: Path, records: list[ComplianceRecord]) -> None:
    """Replace `path` atomically (write, fsync, rename, fsync the folder)."""
    temporary = path.with_suffix(".tmp")
    with open(temporary, "wb") as file:
        file.write(b"".join(r.line() for r in records))
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
