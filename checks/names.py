"""Names that look alike match alike: one normalisation for hashing, searching and storing.

A name is normalised once, by :func:`normalise_name` (NFKC, then invisible format characters
such as zero-width spaces and soft hyphens removed), and every use of it (the subject's keyed
hash, the agency searches, the stored request) sees that form. Characters that can only hide or
reorder what a person reads (bidi overrides, other format characters, private-use and unassigned
code points) are refused rather than guessed at, and a name mixing Latin with Cyrillic or Greek
letters, the homoglyph trick, is searched but referred to a person with a reason.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from checks.policy import Decision, Reason, Verdict

__all__ = [
    "MIXED_SCRIPT_REASON",
    "STRIPPED_FORMAT_CHARACTERS",
    "is_mixed_script",
    "name_key",
    "name_problem",
    "normalise_name",
    "refer_mixed_script_names",
]

#: Invisible characters that change nothing a person reads: removed, not refused. Every other
#: format character (category Cf) is refused: bidi controls reorder what is displayed.
STRIPPED_FORMAT_CHARACTERS = frozenset(
    {
        "\u00ad",  # soft hyphen
        "\u180e",  # Mongolian vowel separator
        "\u200b",  # zero-width space
        "\u200c",  # zero-width non-joiner
        "\u200d",  # zero-width joiner
        "\u2060",  # word joiner
        "\ufeff",  # zero-width no-break space (byte order mark)
    }
)

#: Scripts whose letters are easily confused with one another (Latin o, Cyrillic о, Greek ο).
_CONFUSABLE_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK")

MIXED_SCRIPT_REASON = "NAME_MIXED_SCRIPT"


def _strip_format(text: str) -> str:
    return "".join(c for c in text if c not in STRIPPED_FORMAT_CHARACTERS)


def normalise_name(text: str) -> str:
    """The one form of a name that is hashed, searched and stored.

    NFKC folds compatibility forms (full-width letters, ligatures) into their plain letters;
    the invisible format characters are then removed, and NFKC applied again because removing
    one can bring a letter and its combining mark together. Idempotent.
    """
    return unicodedata.normalize("NFKC", _strip_format(unicodedata.normalize("NFKC", text)))


def name_key(text: str) -> str:
    """The form of a name that subjects are matched on (inside the keyed identity hash).

    The normalised name, decomposed so that accents drop away ("José" and "Jose" are one
    person to the agencies too), with only letters and digits kept, case-folded.
    """
    decomposed = unicodedata.normalize("NFKD", normalise_name(text))
    return "".join(c for c in decomposed if c.isalnum()).casefold()


def name_problem(text: str) -> str | None:
    """Why a name is refused (the rule, never the value), or None if it is acceptable."""
    for char in text:
        if char in STRIPPED_FORMAT_CHARACTERS:
            continue
        category = unicodedata.category(char)
        if category == "Cf":
            return (
                "must not contain invisible formatting characters such as right-to-left overrides"
            )
        if category == "Co":
            return "must not contain private-use characters"
        if category == "Cn":
            return "must not contain unassigned Unicode code points"
        if category == "Cs":
            return "must not contain unpaired surrogate code points"
    return None


def _script(char: str) -> str | None:
    name = unicodedata.name(char, "")
    return next((s for s in _CONFUSABLE_SCRIPTS if name.startswith(s + " ")), None)


def is_mixed_script(text: str) -> bool:
    """Whether a name has letters from two of Latin, Cyrillic and Greek."""
    scripts = {_script(c) for c in text if c.isalpha()}
    scripts.discard(None)
    return len(scripts) > 1


def refer_mixed_script_names(verdict: Verdict, names: Iterable[str]) -> Verdict:
    """Refer a check whose names mix scripts; a decline stays a decline, with the reason added.

    Such a name may be a homoglyph of someone else's (``Imp\\u043estor``), so an accept
    from agencies that found nobody by that spelling is not to be trusted without a person.
    """
    if not any(is_mixed_script(n) for n in names):
        return verdict
    reason = Reason(
        MIXED_SCRIPT_REASON,
        "A name mixes Latin letters with Cyrillic or Greek ones; a person must confirm it",
    )
    decision = Decision.REFER if verdict.decision is Decision.ACCEPT else verdict.decision
    kept = tuple(r for r in verdict.reasons if verdict.decision is not Decision.ACCEPT)
    return Verdict(decision, (*kept, reason), verdict.flag)
