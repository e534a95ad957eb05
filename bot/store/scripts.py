"""The store's Lua scripts: one table of name -> files in bot/lua/, read with importlib.resources.

A script is its preludes (the Redis clock `now_ms`, the GCRA function, the upstream gate)
followed by its own file, joined once when the store registers it. Each file
names its KEYS and ARGV at the top.
"""

from __future__ import annotations

import functools
from importlib import resources

#: name -> the .lua files (in bot/lua/, without the suffix) it is made of, preludes first.
SCRIPTS: dict[str, tuple[str, ...]] = {
    "begin": ("clock", "gcra", "upstream_gate", "begin"),
    "finish": ("optout", "finish"),
    "replay_compliance": ("optout", "compliance"),
    "allow": ("clock", "gcra", "allow"),
    "release": ("release",),
    "unlock": ("unlock",),
    "gate": ("clock", "gcra", "upstream_gate", "gate"),
    "record": ("clock", "record"),
    "breaker_state": ("clock", "breaker_state"),
    "enqueue": ("clock", "enqueue"),
    "claim": ("clock", "claim"),
    "retry": ("clock", "retry"),
    "mark_sending": ("mark_sending",),
    "scan": ("scan",),
    "pace": ("clock", "pace"),
    "out_claim": ("out_claim",),
    "out_step": ("out_step",),
    "lease": ("lease",),
    "take_nonce": ("take_nonce",),
    "take_budget": ("take_budget",),
    "login": ("clock", "login"),
    "enter": ("clock", "enter"),
    "commit_draw": ("clock", "commit_draw"),
    "whatsapp_inbound": ("whatsapp_inbound",),
    "outbound": ("outbound",),
    "receipt": ("receipt",),
}


@functools.cache
def lua_file(name: str) -> str:
    return resources.files("bot").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


@functools.cache
def source(name: str) -> str:
    """The full text of script `name`, preludes first."""
    return "\n".join(lua_file(part) for part in SCRIPTS[name])
