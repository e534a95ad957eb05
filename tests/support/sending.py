"""Running the send engine in the test's process, step by step, on the test's clock."""

from __future__ import annotations


def drain(engine, steps: int = 20) -> int:
    """Run the engine until the queue has nothing due (a held job comes due again: at most `steps`)."""
    for step in range(steps):
        if not engine.run_once():
            return step
    return steps
