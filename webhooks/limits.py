"""Limits every webhook request meets before it is parsed: body size, JSON nesting depth, and
the number of events in one request."""

from __future__ import annotations

import re

from flask import Request
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from .errors import InvalidBody, TooLarge

MAX_EVENTS = 1_000  # per request; Salesforce sends at most 100 notifications in one message
_CHUNK = 64 * 1024

_NEXT_TOKEN = re.compile(r'["\[\]{}]')
_REST_OF_STRING = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with `TooLarge` once it is over `limit` bytes.

    A Content-Length over the limit is refused before anything is read; a chunked body is read
    until it passes the limit, never further.
    """
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"the body is {request.content_length} bytes; at most {limit}")
    # Werkzeug enforces the maximum on streams the server terminates (chunked, under gunicorn
    # and the development server); the loop enforces it on anything else.
    request.max_content_length = limit
    parts: list[bytes] = []
    size = 0
    try:
        stream = request.stream
        while chunk := stream.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"the body is over {limit} bytes")
            parts.append(chunk)
    except RequestEntityTooLarge:
        raise TooLarge(f"the body is over {limit} bytes") from None
    except ClientDisconnected:
        raise InvalidBody("the body ended before its Content-Length") from None
    return b"".join(parts)


def check_json_depth(text: str, limit: int) -> None:
    """Refuse JSON nested deeper than `limit` arrays/objects, in one pass without recursion.

    Brackets inside strings do not count. An unterminated string ends the scan: the parser
    then refuses the text, having met no deeper nesting than was counted.
    """
    if text.count("[") + text.count("{") <= limit:
        return
    depth = 0
    position = 0
    while token := _NEXT_TOKEN.search(text, position):
        char = token.group()
        position = token.end()
        if char == '"':
            string = _REST_OF_STRING.match(text, position)
            if string is None:
                return
            position = string.end()
        elif char in "[{":
            depth += 1
            if depth > limit:
                raise InvalidBody(f"JSON nested deeper than {limit} levels", code="too_deep")
        else:
            depth -= 1
