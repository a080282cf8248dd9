"""Options that many ``checkctl`` commands share, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

#: ``--json``: the command's result as JSON on stdout (refusals too, as ``{"error", "message"}``).
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
