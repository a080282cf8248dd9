"""The command line starts fast and reads well in an 80-column terminal."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from workers.cli import app
from workers.runtime import set_runtime


def _modules_after(code: str, tmp_path: Path) -> set[str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    return set(json.loads(run.stdout.strip().splitlines()[-1]))


#: What `checkctl --help` must not import: each costs start-up time only a command needs.
_NOT_FOR_HELP = {
    "sqlalchemy",
    "dramatiq",
    "aiohttp",
    "httpx",
    "alembic",
    "pydantic",
    "pydantic_settings",
    "structlog",
    "cryptography",
}


def test_importing_the_command_line_loads_no_database_broker_or_http_library(
    tmp_path: Path,
) -> None:
    loaded = _modules_after("import workers.cli", tmp_path)
    assert not _NOT_FOR_HELP & loaded


# (A command group's own --help runs the root callback first, which sets up logging.)
@pytest.mark.parametrize("argv", [["--help"], []])
def test_help_loads_no_settings_logging_database_broker_or_http_library(
    tmp_path: Path, argv: list[str]
) -> None:
    code = (
        f"import sys; sys.argv = ['checkctl', *{argv!r}]\n"
        "from workers.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
    )
    loaded = _modules_after(code, tmp_path)
    assert "typer.rich_utils" in loaded  # the help was rendered
    assert not _NOT_FOR_HELP & loaded
    assert not {m for m in loaded if m.startswith(("agencies", "adapters", "web"))}


def test_reading_a_check_needs_neither_the_broker_nor_the_agencies(tmp_path: Path) -> None:
    code = (
        "import os; os.environ['CHECKS_DATABASE_URL'] = 'sqlite:///' + os.path.abspath('c.db')\n"
        "from workers.runtime import get_reader\n"
        "from checks.errors import CheckNotFound\n"
        "r = get_reader()\n"
        "try:\n    r.get('nope')\nexcept CheckNotFound:\n    pass\n"
        "r.store.migrate()\n"  # a second time: the schema is current, Alembic stays unloaded
    )
    # The first run creates the schema (Alembic); the second finds it current.
    _modules_after(code, tmp_path)
    loaded = _modules_after(code, tmp_path)
    assert not {"dramatiq", "aiohttp", "adapters.experian", "alembic"} & loaded


def test_show_loads_no_request_models_or_submission_service(tmp_path: Path) -> None:
    code = (
        "import os, sys\n"
        "os.environ['CHECKS_DATABASE_URL'] = 'sqlite:///' + os.path.abspath('c.db')\n"
        "sys.argv = ['checkctl', 'show', 'nope']\n"
        "from workers.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
    )
    loaded = _modules_after(code, tmp_path)
    assert "checks.check_view" in loaded  # the check was looked for
    # Parsing a request and submitting one are the write path's: a read needs neither.
    assert not {"checks.request", "checks.request_models", "checks.api", "checks.keys"} & loaded
    # The PostgreSQL driver is for PostgreSQL: on SQLite it is never imported (about 60 ms).
    assert "psycopg" not in loaded


@pytest.fixture
def narrow_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CHECKS_DATABASE_URL", f"sqlite:///{tmp_path / 'checks.db'}")
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("CHECKS_SANDBOX_FAULTS", raising=False)
    set_runtime(None)
    yield CliRunner()
    set_runtime(None)


def test_the_demo_at_80_columns_keeps_every_reason_whole_on_its_line(
    narrow_cli: CliRunner,
) -> None:
    import workers.cli as cli

    width = cli.out.width
    cli.out.width = 80  # the module's console was sized when it was imported
    try:
        result = narrow_cli.invoke(app, ["demo"], catch_exceptions=False)
    finally:
        cli.out.width = width
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    # A reason code folded across lines leaves fragments such as "_FRAUD_" or "RELAYED_".
    fragments = [w for w in re.findall(r"[A-Za-z_]+", result.stdout) if re.match(r"_|.*_$", w)]
    assert not fragments
    assert "9 of 9 as expected" in result.stdout


def test_the_demo_runs_without_the_postgresql_driver(tmp_path: Path) -> None:
    # Given a process in which psycopg cannot be imported (`pip install -e .`, no extras)
    probe = (
        "import sys\n"
        "class NoPostgres:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'psycopg' or name.startswith('psycopg.'):\n"
        "            raise ImportError('psycopg is not installed')\n"
        "sys.meta_path.insert(0, NoPostgres())\n"
        "sys.argv = ['checkctl', 'demo']\n"
        "from workers.cli import main\n"
        "main()\n"
    )
    # When the README's first command runs on the embedded defaults
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    # Then every persona is decided as expected
    assert run.returncode == 0, run.stderr[-2000:]
    assert "9 of 9 as expected" in run.stdout


def test_bench_runs_the_clones_benchmark_with_its_own_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    result = CliRunner().invoke(app, ["bench", "--help"])
    assert result.exit_code == 0, result.output
    assert "usage: checkctl bench" in result.output
    assert "--quick" in result.output and "--pg-url" in result.output


def test_bench_outside_a_clone_says_where_to_run_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["bench", "--quick"])
    assert result.exit_code == 2
    assert "run it from the repository's root" in result.output


def test_bench_without_postgresqls_driver_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "psycopg" else find_spec(name, *a),
    )
    result = CliRunner().invoke(app, ["bench", "--quick"])
    assert result.exit_code == 2
    assert 'pip install -e ".[postgres]"' in result.output
