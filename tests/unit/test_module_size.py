"""Every product module stays small enough to read as one idea (issue 11: about 400 lines)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("checks", "agencies", "adapters", "workers", "web")
LIMIT = 420


def test_no_product_module_is_over_about_400_lines() -> None:
    sizes = {
        path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for package in PRODUCT
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }
    assert len(sizes) > 50  # the packages were found
    too_long = {p: n for p, n in sizes.items() if n > LIMIT}
    assert not too_long, too_long
