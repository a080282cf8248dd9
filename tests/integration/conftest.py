"""Integration fixtures: real Redis and PostgreSQL, and `checkctl worker` as a separate process.

The test process never imports ``workers.actors`` for sending: its global actors are declared
on the StubBroker (tests/conftest.py sets ``CHECKS_BROKER_URL=stub://`` before any import).
Instead it talks to Redis through its own ``RedisBroker`` and the service's dispatcher, which
sends ``run_check`` messages by name, exactly as an order flow would.

Every worker process runs in its own session (process group), so a test can SIGKILL it with
everything it forked, and teardown always does.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from cryptography.fernet import Fernet

from agencies.config import build_agencies
from checks.config import Settings
from tests.conftest import REDIS_URL, fast_agency_settings
from workers.broker import build_broker
from workers.runtime import Runtime, build_runtime
from workers.settings import WorkerSettings

#: The console script of this virtualenv (``workers.cli`` has no ``__main__``).
CHECKCTL = str(Path(sys.executable).parent / "checkctl")

#: One encryption key for the whole session, given to the test process and every subprocess,
#: so either side can read what the other wrote (and nobody falls back to the development key).
ENCRYPTION_KEY = Fernet.generate_key().decode()

#: Worker settings for integration runs: seconds, not minutes, between retries.
BASE_WORKER_ENV: dict[str, str] = {
    "CHECKS_BROKER_URL": REDIS_URL,
    "CHECKS_ENCRYPTION_KEYS": ENCRYPTION_KEY,
    # Live agency mode (tests that serve the sandbox over HTTP) needs its own signing key.
    "CHECKS_NOTIFY_SIGNING_KEY": Fernet.generate_key().decode(),
    "CHECKS_AGENCY_MODE": "sandbox",
    "CHECKS_MAX_RETRIES": "10",
    "CHECKS_RETRY_MIN_BACKOFF_MS": "200",
    "CHECKS_RETRY_MAX_BACKOFF_MS": "1000",
    "CHECKS_LOG_LEVEL": "INFO",
    # Only the tests send reconcile jobs; the worker's own schedule would race with them.
    "CHECKS_RECONCILE_EVERY_SECONDS": "3600",
}


def subprocess_env(pg_url: str, **overrides: str | None) -> dict[str, str]:
    """The environment for a ``checkctl`` subprocess on this database and the test Redis.

    Inherited ``CHECKS_*`` values (tests/conftest.py sets stub:// and tiny backoffs for the
    in-process tests) are dropped, so only what is given here applies. ``None`` removes a key.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHECKS_")}
    env.update(BASE_WORKER_ENV)
    env["CHECKS_DATABASE_URL"] = pg_url
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no output)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


@dataclass
class WorkerProcess:
    """A running ``checkctl worker`` and where its output goes."""

    name: str
    proc: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    env: dict[str, str] = field(repr=False)

    @property
    def pgid(self) -> int:
        """Its process group (its own session, started for it)."""
        return self.proc.pid  # start_new_session=True: the leader's pid is the group id

    def alive(self) -> bool:
        """Whether the leader process is still running."""
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group (leader and every forked worker), then reap."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL cannot be ignored
            self.proc.wait(timeout=10)
        # Forked children are reparented; give the kernel a moment to finish them off.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(self.pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def diagnostics(self) -> str:
        """The tail of its stderr (and stdout), for assertion messages."""
        state = "running" if self.alive() else f"exited with {self.proc.returncode}"
        return (
            f"\n--- worker {self.name} ({state}) stderr tail ---\n{_tail(self.stderr)}"
            f"\n--- worker {self.name} stdout tail ---\n{_tail(self.stdout, 10)}"
        )


WorkerFactory = Callable[..., WorkerProcess]


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    """A client on the test Redis database."""
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def redis_clean(redis_client: redis.Redis) -> Iterator[redis.Redis]:
    """The test Redis database (db 7), flushed before and after the test."""
    redis_client.flushdb()
    yield redis_client
    redis_client.flushdb()


@pytest.fixture
def worker_process(tmp_path: Path, redis_clean: redis.Redis) -> Iterator[WorkerFactory]:
    """Start ``checkctl worker --processes 1 --threads 4`` subprocesses; all killed at teardown.

    Call it with the database URL and ``CHECKS_*`` overrides (``None`` removes a variable).
    """
    started: list[WorkerProcess] = []

    def start(pg_url: str, name: str | None = None, **overrides: str | None) -> WorkerProcess:
        name = name or f"w{len(started) + 1}"
        env = subprocess_env(pg_url, **overrides)
        out, err = tmp_path / f"worker-{name}.out", tmp_path / f"worker-{name}.err"
        with out.open("wb") as so, err.open("wb") as se:
            proc = subprocess.Popen(
                [CHECKCTL, "worker", "--processes", "1", "--threads", "4"],
                env=env,
                stdout=so,
                stderr=se,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=tmp_path,
            )
        wp = WorkerProcess(name, proc, out, err, env)
        started.append(wp)
        return wp

    yield start
    for wp in started:
        wp.kill()


@dataclass
class CliResult:
    """A finished ``checkctl`` command."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """Its stdout parsed as JSON (asserting it succeeded)."""
        assert self.returncode == 0, (
            f"checkctl {' '.join(self.args)} exited {self.returncode}\n"
            f"stdout: {self.stdout[-2000:]}\nstderr: {self.stderr[-3000:]}"
        )
        return json.loads(self.stdout)


def checkctl(
    args: list[str],
    pg_url: str,
    *,
    timeout: float = 60,
    cwd: Path | None = None,
    **overrides: str | None,
) -> CliResult:
    """Run ``checkctl ARGS`` against this database and the test Redis."""
    done = subprocess.run(
        [CHECKCTL, *args],
        env=subprocess_env(pg_url, **overrides),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
    )
    return CliResult(args, done.returncode, done.stdout, done.stderr)


def checkctl_popen(
    args: list[str], pg_url: str, *, cwd: Path | None = None, **overrides: str | None
) -> subprocess.Popen[str]:
    """Start ``checkctl ARGS`` without waiting (pair with :func:`finish`)."""
    return subprocess.Popen(
        [CHECKCTL, *args],
        env=subprocess_env(pg_url, **overrides),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
    )


def finish(proc: subprocess.Popen[str], args: list[str], timeout: float = 60) -> CliResult:
    """Wait for a command started with :func:`checkctl_popen`."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        err += f"\n(killed after {timeout}s)"
    return CliResult(args, proc.returncode, out, err)


@pytest.fixture
def redis_runtime(pg_url: str, redis_clean: redis.Redis) -> Iterator[Runtime]:
    """The test process's runtime on PostgreSQL, sending to Redis through its own broker.

    It is not installed as the process's runtime, and its broker is not Dramatiq's global.
    """
    ws = WorkerSettings(broker_url=REDIS_URL)
    broker = build_broker(ws)
    rt = build_runtime(
        settings=Settings(database_url=pg_url, encryption_keys=(ENCRYPTION_KEY,)),
        worker_settings=ws,
        broker=broker,
        agencies=build_agencies(fast_agency_settings()),
    )
    yield rt
    rt.store.dispose()
    broker.close()


def wait_for(
    what: str,
    probe: Callable[[], Any],
    *,
    timeout: float,
    interval: float = 0.1,
    diagnostics: Callable[[], str] = lambda: "",
) -> Any:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:g}s waiting for {what} (last: {last!r}){diagnostics()}")


def terminal_view(rt: Runtime, check_id: str) -> Callable[[], Mapping[str, Any] | None]:
    """A probe: the check's view once it is decided or failed, else None."""

    def probe() -> Mapping[str, Any] | None:
        view = rt.store.view(check_id)
        return view if view["status"] in ("decided", "failed") else None

    return probe
