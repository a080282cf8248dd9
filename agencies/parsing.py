"""Reading agency answers defensively: JSON shapes and hardened XML.

Every adapter reads an answer through these helpers, so every wrong shape, bad encoding or
hostile document becomes the same error: :class:`~agencies.errors.UnusableResponse`, with the
path of what was wrong. No ``KeyError`` or ``TypeError`` ever escapes an adapter.

Adapters parse inside :func:`reading`::

    with reading("experian"):
        data = json_body(response)
        header = obj(field(data, "responseHeader", "$"), "responseHeader")
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import httpx
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as _safe_fromstring

from agencies.errors import UnusableResponse

#: Answers are capped by the HTTP policy already; XML gets its own, smaller bound too.
MAX_XML_BYTES = 1_000_000
#: How much of an agency's own error text goes into an error message.
MAX_ERROR_DETAIL = 200


class BadShape(ValueError):
    """The answer is readable but not the shape the agency documents."""


@contextmanager
def reading(agency: str) -> Iterator[None]:
    """Turn any :class:`BadShape` raised while reading into :class:`UnusableResponse`."""
    try:
        yield
    except BadShape as exc:
        raise UnusableResponse(agency, f"answer not in the expected format: {exc}") from exc


# -- bodies -----------------------------------------------------------------------------------


def text_body(response: httpx.Response) -> str:
    """The body as strict UTF-8 (invalid bytes are a bad answer, not replacement chars)."""
    try:
        return response.content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadShape(f"body is not valid UTF-8 (byte {exc.start})") from None


def json_body(response: httpx.Response) -> Any:
    """The body parsed as JSON."""
    try:
        return json.loads(text_body(response))
    except json.JSONDecodeError as exc:
        raise BadShape(f"body is not JSON ({exc.msg} at line {exc.lineno})") from None


def json_answer(agency: str, response: httpx.Response) -> Any:
    """The body parsed as JSON, for adapters that report a body that is not JSON at all
    (``answer is not valid JSON: ...``) apart from JSON of the wrong shape (:func:`reading`)."""
    try:
        return json_body(response)
    except BadShape as exc:
        raise UnusableResponse(agency, f"answer is not valid JSON: {exc}") from None


def describe_json_error(
    response: httpx.Response, *paths: str, sep: str = " ", limit: int = MAX_ERROR_DETAIL
) -> str:
    """A short description of a JSON error answer, for an agency error's message.

    Each path is ``.``-separated keys (a number indexes a list), e.g. ``error.code`` and
    ``error.message`` for ``{"error": {"code", "message"}}``. The values found are joined
    with ``sep``; a missing or empty value (null, ``""``, 0) is left out, and a body that is
    not JSON or has none of the paths describes as ``""``. For ``describe_error`` hooks.
    """
    try:
        data = response.json()
    except ValueError:
        return ""
    parts = [str(_at(data, path) or "") for path in paths]
    return sep.join(p for p in parts if p)[:limit]


def describe_error_object(response: httpx.Response) -> str:
    """A short description of the common JSON error answer ``{"error": {"code", "message"}}``."""
    return describe_json_error(response, "error.code", "error.message")


def _at(data: Any, path: str) -> Any:
    """The value at a ``.``-separated path, or None where the path does not lead anywhere."""
    for key in path.split("."):
        if isinstance(data, dict):
            data = data.get(key)
        elif isinstance(data, list) and key.isdigit() and int(key) < len(data):
            data = data[int(key)]
        else:
            return None
    return data


def xml_body(response: httpx.Response, *, max_bytes: int = MAX_XML_BYTES) -> Element:
    """The body parsed as XML with defusedxml: no DTD entities, no external references."""
    if len(response.content) > max_bytes:
        raise BadShape(f"XML body larger than {max_bytes} bytes")
    return parse_xml(text_body(response))


def parse_xml(text: str) -> Element:
    """Parse XML text with entity expansion and external references forbidden."""
    try:
        root: Element = _safe_fromstring(
            text, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
        return root
    except DefusedXmlException as exc:
        raise BadShape(f"XML refused ({type(exc).__name__})") from None
    except ParseError as exc:
        raise BadShape(f"body is not well-formed XML ({exc})") from None


# -- JSON shapes ----------------------------------------------------------------------------


def obj(value: Any, where: str) -> dict[str, Any]:
    """``value`` as a JSON object."""
    if not isinstance(value, dict):
        raise BadShape(f"{where} is not an object")
    return value


def field(o: Mapping[str, Any], key: str, where: str) -> Any:
    """A required key of an object."""
    if key not in o:
        raise BadShape(f"{where}.{key} is missing")
    return o[key]


def text(o: Mapping[str, Any], key: str, where: str) -> str:
    """A required string."""
    value = field(o, key, where)
    if not isinstance(value, str):
        raise BadShape(f"{where}.{key} is not a string")
    return value


def array(o: Mapping[str, Any], key: str, where: str, *, optional: bool = False) -> list[Any]:
    """A list (``optional``: a missing or null key is an empty list)."""
    if optional and o.get(key) is None:
        return []
    value = field(o, key, where)
    if not isinstance(value, list):
        raise BadShape(f"{where}.{key} is not a list")
    return value


def count(value: Any, where: str) -> int:
    """A non-negative whole number, given as a number or a digit string."""
    if isinstance(value, bool):  # bool is an int in Python, but "true" is not a count
        raise BadShape(f"{where} is not a whole number")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value)
    else:
        raise BadShape(f"{where} is not a whole number")
    if number < 0:
        raise BadShape(f"{where} is negative")
    return number


def iso_date(o: Mapping[str, Any], key: str, where: str) -> date | None:
    """An optional ``YYYY-MM-DD`` date."""
    value = o.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadShape(f"{where}.{key} is not a date")
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise BadShape(f"{where}.{key} {value!r} is not a YYYY-MM-DD date") from None


# -- XML shapes -----------------------------------------------------------------------------


def local(tag: str) -> str:
    """A tag without its namespace."""
    return tag.rsplit("}", 1)[-1]


def find(el: Element, path: str) -> Element | None:
    """The first descendant at a ``/``-separated path of local names (namespaces ignored)."""
    current: list[Element] = [el]
    for part in path.split("/"):
        current = [c for p in current for c in p if local(c.tag) == part]
        if not current:
            return None
    return current[0]


def find_all(el: Element, path: str) -> list[Element]:
    """Every element at a ``/``-separated path of local names."""
    current: list[Element] = [el]
    for part in path.split("/"):
        current = [c for p in current for c in p if local(c.tag) == part]
    return current


def must(el: Element, path: str) -> Element:
    """A required element."""
    found = find(el, path)
    if found is None:
        raise BadShape(f"<{path}> is missing")
    return found


def xml_text(el: Element, path: str, *, default: str | None = None) -> str:
    """The stripped text at a path (required unless ``default`` is given)."""
    found = find(el, path)
    if found is None or found.text is None:
        if default is not None:
            return default
        raise BadShape(f"<{path}> is missing")
    return found.text.strip()


def xml_count(el: Element, path: str, *, default: int | None = None) -> int:
    """A non-negative whole number at a path."""
    raw = xml_text(el, path, default=None if default is None else str(default))
    return count(raw, f"<{path}>")
