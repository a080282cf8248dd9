"""Email addresses as RFC 6531 allows them: UTF-8 in the local part, an IDN domain.

``siân@example.com`` and ``用户@例子.广告`` are valid addresses people give; a check must not
refuse them. The local part is a dot-atom whose characters are RFC 5322's ``atext`` plus any
non-ASCII character (RFC 6531 section 3.3), at most 64 octets in UTF-8; the domain must have an
IDNA 2008 form (``idna``) that is a valid host name with a top-level domain of letters or an
A-label. Quoted local parts and address literals are refused: no person gives one on a form.
"""

from __future__ import annotations

import re
import unicodedata

import idna

#: RFC 5321: a local part is at most 64 octets, a domain at most 255, an address 254.
MAX_LOCAL_OCTETS = 64
MAX_ADDRESS_OCTETS = 254

# RFC 5322 atext, plus every non-ASCII character except controls and spaces (RFC 6531).
_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u00a0-\U0010ffff]+")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_TLD = re.compile(r"[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59}")


def _local_part_ok(local: str) -> bool:
    if not local or len(local.encode("utf-8")) > MAX_LOCAL_OCTETS:
        return False
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zs", "Zl", "Zp") for c in local):
        return False
    # A dot-atom: no leading, trailing or doubled dot.
    return all(_ATOM.fullmatch(atom) for atom in local.split("."))


def ascii_domain(domain: str) -> str | None:
    """The domain's ASCII (A-label) form, or None if it is not a valid mail domain."""
    try:
        encoded = idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        return None
    labels = encoded.split(".")
    if len(labels) < 2 or len(encoded) > 253:
        return None
    if not all(_LABEL.fullmatch(label) for label in labels):
        return None
    return encoded if _TLD.fullmatch(labels[-1]) else None


def is_valid_email(address: str) -> bool:
    """Whether ``address`` is a mailbox a person could give (RFC 5321/5322 with RFC 6531)."""
    if len(address.encode("utf-8")) > MAX_ADDRESS_OCTETS:
        return False
    local, at, domain = address.rpartition("@")
    if not at:
        return False
    return _local_part_ok(local) and ascii_domain(domain) is not None
