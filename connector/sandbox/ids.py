"""Salesforce record ids: 15 case-sensitive characters, and the 18-character form whose last three
characters encode the case of the first fifteen (so the id survives case-insensitive systems)."""

from __future__ import annotations

import secrets

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
POD = "7Q"  # the "instance" characters after the key prefix; any two alphanumerics


def checksum(id15: str) -> str:
    """The three-character suffix: per chunk of five, a bit for each upper-case letter."""
    suffix = ""
    for start in (0, 5, 10):
        flags = sum(1 << i for i, char in enumerate(id15[start : start + 5]) if "A" <= char <= "Z")
        suffix += _SUFFIX[flags]
    return suffix


def _alnum(text: str) -> bool:
    return text.isascii() and text.isalnum()


def to18(value: object) -> str | None:
    """The 18-character form of a 15- or 18-character id, or None when it is not a valid id."""
    if not isinstance(value, str) or not _alnum(value):
        return None
    if len(value) == 15:
        return value + checksum(value)
    if len(value) == 18 and value[15:].upper() == checksum(value[:15]):
        return value[:15] + checksum(value[:15])
    return None


def base62(number: int, width: int) -> str:
    digits = ""
    while number:
        number, rest = divmod(number, 62)
        digits = BASE62[rest] + digits
    return digits.rjust(width, "0")[-width:]


def make_id(prefix: str, number: int) -> str:
    """An 18-character id: key prefix, pod, a reserved zero and the number in base 62."""
    id15 = f"{prefix}{POD}0{base62(number, 9)}"
    return id15 + checksum(id15)


def random_id(prefix: str) -> str:
    """An 18-character id with a random number (org ids, action ids)."""
    return make_id(prefix, secrets.randbelow(62**6))


def token(length: int) -> str:
    """A random token of letters and digits (session ids)."""
    return "".join(secrets.choice(BASE62) for _ in range(length))
