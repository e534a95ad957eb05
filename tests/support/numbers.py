"""Checking that a phone number does not leak: every form it could be written in."""

from __future__ import annotations


def hidden_parts(number: str) -> list[str]:
    """The forms a number could leak in: clear, without '+', URL-encoded, and the digits a mask hides."""
    digits = number[1:]
    return [number, digits, "%2B" + digits, number[3:-2]]


