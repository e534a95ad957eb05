"""Checks across a whole campaign file: keywords that clash or sit one typo apart, slugs used
twice, and replies over the SMS segment budget.

They report through the loader's `problem(table, index, key, label, message)`, so
each is placed at its file line like any other problem.
"""

from __future__ import annotations

from collections.abc import Callable

from .campaigns import NEAR_MISS_MIN_LENGTH, Campaign, Program, number_scopes
from .keywords import normalize, one_edit_apart
from .segments import count_segments

Report = Callable[[str, int | None, str | None, str, str], None]


def check_keywords(program: Program, placed: list[tuple[int, Campaign]], problem: Report) -> None:
    """Per served number: no keyword twice, and no keyword one edit from another campaign's."""
    for number, members in number_scopes(program, placed).items():
        owner: dict[str, tuple[str, Campaign]] = {}
        for position, campaign in members:
            label = f"[[campaigns]] #{position + 1} ({campaign.slug})"
            for keyword in campaign.keywords:
                key = normalize(keyword)
                other_keyword, other = owner.setdefault(key, (keyword, campaign))
                where = f" on {number}" if campaign.numbers or other.numbers else ""
                if other is not campaign:
                    problem(
                        "campaigns", position, "keywords", label,
                        f"keyword {keyword!r} is already used by campaign {other.slug!r}{where}",
                    )
                    continue
                # A typo of one keyword must not land on another campaign's keyword.
                for other_key, (other_keyword, other) in owner.items():
                    if other is campaign or max(len(key), len(other_key)) < NEAR_MISS_MIN_LENGTH:
                        continue
                    if one_edit_apart(key, other_key):
                        where = f" on {number}" if campaign.numbers or other.numbers else ""
                        problem(
                            "campaigns", position, "keywords", label,
                            f"keyword {keyword!r} is one edit from {other_keyword!r} of campaign "
                            f"{other.slug!r}{where}: a typo of one would reach the other",
                        )


def check_slugs(placed: list[tuple[int, Campaign]], problem: Report) -> None:
    seen: dict[str, int] = {}
    for position, campaign in placed:
        first = seen.setdefault(campaign.slug, position)
        if first != position:
            problem(
                "campaigns", position, "slug", f"[[campaigns]] #{position + 1} ({campaign.slug})",
                f"slug {campaign.slug!r} is already used by [[campaigns]] #{first + 1}",
            )


def over_budget(text: str, max_segments: int) -> str | None:
    """The warning for a reply whose sample rendering `text` needs more segments than the budget."""
    count = count_segments(text)
    if count.segments <= max_segments:
        return None
    return (
        f"reply needs {count} with sample values, over the budget of {max_segments} "
        "([program].max_segments); every extra segment is billed"
    )
