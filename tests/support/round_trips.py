"""Redis round trips counted at the connection, per thread: what one webhook costs on its own thread.

A command, a script call and a whole pipeline are one `send_packed_command`
each: one round trip. Counting per thread leaves out the background writers
(the results funnel's flusher) that run beside the request.
"""

from __future__ import annotations

import threading
from collections import Counter

from redis.connection import Connection

_sent: Counter[int] = Counter()
_lock = threading.Lock()


class CountingConnection(Connection):
    """A redis-py connection that counts what it sends, by the sending thread."""

    def send_packed_command(self, command, check_health=True):
        with _lock:
            _sent[threading.get_ident()] += 1
        return super().send_packed_command(command, check_health)


def sent_by_this_thread() -> int:
    with _lock:
        return _sent[threading.get_ident()]
