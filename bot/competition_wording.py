"""The legal wording every competition reply carries: "No purchase necessary" and the rules' URL.

A sweepstakes that needs a purchase is a lottery, so the entry reply says it needs none and
where the official rules are (reference/next-capabilities.md §2). A reply template that
already says both is sent as written; otherwise the bot appends what it lacks. `bot check`
warns when a template relies on that, and when the text with the addition goes over the
program's segment budget.
"""

from __future__ import annotations

NO_PURCHASE = "No purchase necessary"


def missing_wording(text: str, rules_url: str) -> list[str]:
    """What of the legal wording `text` lacks: "No purchase necessary" (any case) and the rules' URL."""
    missing = []
    if NO_PURCHASE.lower() not in text.lower():
        missing.append(NO_PURCHASE)
    if rules_url not in text:
        missing.append(rules_url)
    return missing


def with_legal_wording(text: str, rules_url: str) -> str:
    """`text` with what it lacks of the legal wording appended."""
    missing = missing_wording(text, rules_url)
    if not missing:
        return text
    addition = []
    if NO_PURCHASE in missing:
        addition.append(f"{NO_PURCHASE}.")
    if rules_url in missing:
        addition.append(f"Rules: {rules_url}")
    return f"{text} {' '.join(addition)}"
