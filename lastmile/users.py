"""CRM user ids."""

from __future__ import annotations


def same_user(a: str | None, b: str | None) -> bool:
    """Salesforce ids: a 15-character id and its 18-character form name the same user."""
    if not a or not b:
        return False
    if len(a) in (15, 18) and len(b) in (15, 18):
        return a[:15] == b[:15]
    return a == b


def user_key(user_id: str) -> str:
    """Salesforce user ids: the 15-character form names the same user as the 18-character one."""
    user_id = user_id.strip()
    return user_id[:15] if len(user_id) in (15, 18) else user_id
