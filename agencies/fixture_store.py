"""The sandbox's personas and recorded agency answers, read from a fixtures folder."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

from fixtures import FIXTURES_DIR


@dataclass(frozen=True)
class Persona:
    """A sandbox persona: who they are, their story, and the SPEC outcome for ``new_order``."""

    key: str
    forename: str
    surname: str
    date_of_birth: date
    story: str
    expected: str | None
    flagged: bool = False
    joint_with: str | None = None
    requires: tuple[str, ...] = ()


class FixtureStore:
    """Reads personas and recorded answers from a fixtures folder."""

    def __init__(self, root: Path = FIXTURES_DIR) -> None:
        self.root = root
        raw = json.loads((root / "personas.json").read_text(encoding="utf-8"))
        self.personas: tuple[Persona, ...] = tuple(
            Persona(
                key=p["key"],
                forename=p["forename"],
                surname=p["surname"],
                date_of_birth=date.fromisoformat(p["date_of_birth"]),
                story=p["story"],
                expected=p.get("expected"),
                flagged=bool(p.get("flagged", False)),
                joint_with=p.get("joint_with"),
                requires=tuple(p.get("requires", ())),
            )
            for p in raw
        )
        self._by_identity = {(p.surname.casefold(), p.date_of_birth): p for p in self.personas}
        # Recorded answers read before, by path, with the (mtime, size) they were read at.
        self._texts: dict[str, tuple[tuple[int, int], str]] = {}

    def persona(self, key: str) -> Persona:
        """The persona with that key."""
        for p in self.personas:
            if p.key == key:
                return p
        raise KeyError(f"no persona {key!r}")

    def match(self, surname: str, date_of_birth: date | str | None) -> Persona | None:
        """The persona with this surname and date of birth, or None (a clean default file)."""
        if date_of_birth is None:
            return None
        if isinstance(date_of_birth, str):
            try:
                date_of_birth = date.fromisoformat(date_of_birth[:10])
            except ValueError:
                return None
        return self._by_identity.get((surname.strip().casefold(), date_of_birth))

    def read(self, agency: str, persona: Persona | None, suffix: str = ".json") -> str:
        """The recorded answer for this persona at this agency (``default`` if it has none)."""
        folder = os.path.join(self.root, agency)
        if persona is not None:
            text = self._text(os.path.join(folder, f"{persona.key}{suffix}"))
            if text is not None:
                return text
        text = self._text(os.path.join(folder, f"default{suffix}"))
        if text is None:
            raise FileNotFoundError(f"no default{suffix} answer for {agency} in {self.root}")
        return text

    def _text(self, path: str) -> str | None:
        """The file's text (None if there is no such file), read again only once it changed.

        The simulator answers every request from these files: reading and decoding one per
        answer was a tenth of the HTTP sandbox's CPU. A file re-recorded while the sandbox
        runs has a new modification time or size, and is read again.
        """
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        known = self._texts.get(path)
        if known is not None and known[0] == stamp:
            return known[1]
        with open(path, encoding="utf-8") as f:
            text = f.read()
        self._texts[path] = (stamp, text)
        return text

    def notice_answer(self, agency: str, people: tuple[Persona | None, Persona | None]) -> str:
        """How this CRA first answers a notice of disassociation between two people.

        ``fixtures/<agency>/disassociation.json`` lists persona pairs: ``joint_accounts_open``
        (refused: the CRA keeps the link while a joint account is open) and ``confirm_later``
        (pending); any other pair is accepted.
        """
        path = self.root / agency / "disassociation.json"
        rules = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        keys = {p.key for p in people if p is not None}
        for answer, rule in (("refused", "joint_accounts_open"), ("pending", "confirm_later")):
            if any(set(listed) == keys for listed in rules.get(rule, ())):
                return answer
        return "accepted"


@cache
def default_fixtures() -> FixtureStore:
    """The fixtures shipped with the package, read once."""
    return FixtureStore()
