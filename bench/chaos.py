"""The chaos run: the ledger equals what the agencies saw, whatever breaks (issue 9, item 4).

On this machine's PostgreSQL and Redis (or RabbitMQ): a fresh database, the agencies served over
HTTP by ``checkctl sandbox serve``, and two ``checkctl worker`` process groups in live mode.
N checks are queued; while they run, every agency's fault changes at random every second or
two (``flaky``, ``timeout``, ``http500``, ``http503``, ``garbage``, ``slow``) and one worker is
SIGKILLed (process group and all) every few seconds and started again. Then the faults are
cleared, the workers left alone, stuck checks re-queued by the reconciler, and
``checkctl rerun --failed`` run until every check has ended. The figures: checks, kills, fault
changes, lost (not ended), duplicate searches (two searches the agencies hold for one slot of a
check) and ledger mismatches (``checks.ledger.audit`` against the sandbox's own call log).

    .venv/bin/python -m bench.chaos                       # 2,000 checks on Redis
    .venv/bin/python -m bench.chaos --broker rabbitmq     # the same on RabbitMQ
    .venv/bin/python -m bench.chaos --checks 300 --json   # smaller, figures as JSON

Needs PostgreSQL (127.0.0.1:5432, a database is created and dropped), and Redis (the database
of --redis-url is flushed) or RabbitMQ (a virtual host is made with rabbitmqctl and deleted).
Exits 1 unless lost, duplicate searches and ledger mismatches are all 0. The integration suite
runs a small version.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, func, select, text

from agencies.registry import adapter_classes, adapter_paths
from agencies.sandbox_server import fetch_searches
from bench import stop_on_sigterm
from checks.api import CheckService
from checks.config import Settings
from checks.ledger_store import audit_ledger
from checks.models import Check
from checks.samples import persona_request
from checks.store import Store
from workers.broker import build_broker
from workers.dispatch import BrokerDispatcher
from workers.logs import configure_logging
from workers.settings import WorkerSettings

#: The faults the run draws from (SPEC.md's syntax); "" is "no fault" for a while.
FAULTS = ("flaky:2", "timeout", "http500", "http503", "garbage", "slow:400", "", "")
#: Applicants the checks cycle through: single-bureau new orders, Erin's online (IMRG too).
PERSONAS = ("alice", "bob", "carol", "erin", "hana", "ivan")
#: Worker settings for the run: retries in seconds, quick recovery of a killed worker's work.
WORKER_ENV = {
    "CHECKS_AGENCY_MODE": "live",
    "CHECKS_LOG_LEVEL": "ERROR",
    "CHECKS_MAX_RETRIES": "4",
    "CHECKS_RETRY_MIN_BACKOFF_MS": "500",
    "CHECKS_RETRY_MAX_BACKOFF_MS": "3000",
    "CHECKS_LEASE_SECONDS": "6",
    "CHECKS_REDIS_HEARTBEAT_MS": "3000",
    "CHECKS_REDIS_MAINTENANCE_CHANCE": "100000",
    "CHECKS_STALE_AFTER_SECONDS": "20",
    "CHECKS_RECONCILE_EVERY_SECONDS": "10",
}


@dataclass
class ChaosConfig:
    """Sizes and places of one run."""

    checks: int = 2000
    broker: str = "redis"  # or "rabbitmq"
    redis_url: str = "redis://127.0.0.1:6379/1"
    amqp_root: str = "amqp://guest:guest@127.0.0.1:5672"
    pg_admin_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    workers: int = 2
    threads: int = 8
    kill_every_s: float = 5.0
    fault_every_s: float = 1.5
    #: Every agency answers after this long, so checks are in the air when a worker dies.
    latency_ms: int = 100
    #: Longest chaos phase; it ends sooner once every check has ended.
    chaos_s: float = 120.0
    #: How long the recovery (reconciler, reruns) may take before the run gives up.
    recover_s: float = 600.0
    seed: int | None = None


@dataclass
class ChaosResult:
    """The figures of one run; ``ok`` when nothing was lost, duplicated or mismatched."""

    broker: str
    checks: int
    kills: int
    fault_changes: int
    faults_seen: list[str] = field(default_factory=list)
    ended_during_chaos: int = 0
    failed_before_rerun: int = 0
    reruns: int = 0
    decided: int = 0
    failed: int = 0
    lost: int = 0
    duplicate_searches: int = 0
    ledger_mismatches: int = 0
    ledger_rows: int = 0
    agency_searches: int = 0
    unknown_rows: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Every check ended; no duplicate search; the ledger equals the agencies' log."""
        return self.lost == 0 and self.duplicate_searches == 0 and self.ledger_mismatches == 0


def _checkctl() -> str:
    return str(Path(sys.executable).parent / "checkctl")


@contextmanager
def rabbit_vhost(amqp_root: str = "amqp://guest:guest@127.0.0.1:5672") -> Iterator[str]:
    """A fresh RabbitMQ virtual host (``rabbitmqctl``), deleted afterwards; yields its URL.

    Its own queues are empty and no other process consumes them.
    """
    if shutil.which("rabbitmqctl") is None:
        raise RuntimeError("rabbitmqctl (to make a virtual host) is not installed")
    vhost = f"checks_{uuid.uuid4().hex[:10]}"

    def ctl(*args: str) -> None:
        subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)

    ctl("add_vhost", vhost)
    try:
        ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"{amqp_root.rstrip('/')}/{vhost}"
    finally:
        ctl("delete_vhost", vhost)


class WorkerGroup:
    """One ``checkctl worker`` process group that can be SIGKILLed and started again."""

    def __init__(self, name: str, env: dict[str, str], threads: int, log_dir: Path) -> None:
        self.name = name
        self.env = env
        self.threads = threads
        self.log = log_dir / f"worker-{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it (in a session of its own, so its group can be killed whole)."""
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [_checkctl(), "worker", "--processes", "1", "--threads", str(self.threads)],
                env=self.env,
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def dead(self) -> bool:
        """Whether it was started and has exited by itself (e.g. refused its configuration)."""
        return self.proc is not None and self.proc.poll() is not None

    def kill(self) -> None:
        """SIGKILL the whole group, and reap the leader."""
        if self.proc is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        """SIGTERM the group; SIGKILL it if it has not gone within 30 s."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            self.kill()
        self.proc = None


class Chaos:
    """Runs one chaos run; ``say`` reports progress (a line at a time)."""

    def __init__(self, cfg: ChaosConfig, say: Callable[[str], None] = print) -> None:
        self.cfg = cfg
        self.say = say
        self.rng = random.Random(cfg.seed)
        self.keys = Fernet.generate_key().decode()
        self.signing_key = Fernet.generate_key().decode()
        self.groups: list[WorkerGroup] = []
        self.db_name = f"checks_chaos_{uuid.uuid4().hex[:10]}"
        self.db_url = cfg.pg_admin_url.rsplit("/", 1)[0] + "/" + self.db_name
        self.broker_url = cfg.redis_url
        self.store: Store | None = None
        self.sandbox_root = ""
        self.sandbox_urls: dict[str, str] = {}

    # -- set-up ---------------------------------------------------------------------------

    @contextmanager
    def environment(self, log_dir: Path) -> Iterator[None]:
        """A fresh database, an empty broker, the HTTP sandbox; all removed afterwards."""
        admin = create_engine(self.cfg.pg_admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.db_name}"'))
        sandbox: subprocess.Popen[str] | None = None
        try:
            with self._broker():
                self.store = Store(Settings(database_url=self.db_url, encryption_keys=(self.keys,)))
                self.store.migrate()
                sandbox = subprocess.Popen(
                    [_checkctl(), "sandbox", "serve", "--port", "0", "--json"],
                    stdout=subprocess.PIPE,
                    stderr=(log_dir / "sandbox.log").open("wb"),
                    text=True,
                    env={k: v for k, v in os.environ.items() if not k.startswith("CHECKS_")},
                )
                assert sandbox.stdout is not None
                self.sandbox_urls = json.loads(sandbox.stdout.readline())["base_urls"]
                self.sandbox_root = next(iter(self.sandbox_urls.values())).rsplit("/", 1)[0]
                yield
        finally:
            if sandbox is not None:
                sandbox.terminate()
                sandbox.wait(10)
            if self.store is not None:
                self.store.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
            admin.dispose()

    @contextmanager
    def _broker(self) -> Iterator[None]:
        if self.cfg.broker == "rabbitmq":
            with rabbit_vhost(self.cfg.amqp_root) as url:
                self.broker_url = url
                yield
            return
        import redis

        client = redis.Redis.from_url(self.cfg.redis_url)
        client.flushdb()  # a clean queue; the run owns this Redis database
        try:
            yield
        finally:
            client.flushdb()
            client.close()

    def worker_env(self) -> dict[str, str]:
        """A worker's environment: this database and broker, live mode against the sandbox."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHECKS_")}
        env.update(WORKER_ENV)
        env.update(
            CHECKS_BROKER_URL=self.broker_url,
            CHECKS_DATABASE_URL=self.db_url,
            CHECKS_ENCRYPTION_KEYS=self.keys,
            # Live agency mode needs a signing key of its own.
            CHECKS_NOTIFY_SIGNING_KEY=self.signing_key,
        )
        for name, cls in adapter_classes().items():
            env[f"CHECKS_{name.upper()}_BASE_URL"] = self.sandbox_urls[name]
            for cred in cls.credential_names:
                env[f"CHECKS_{name.upper()}_{cred.upper()}"] = "sandbox"
        return env

    def set_faults(self, spec: str) -> None:
        """Replace the sandbox's faults (``CHECKS_SANDBOX_FAULTS`` syntax; "" clears)."""
        httpx.post(
            f"{self.sandbox_root}/_sandbox/faults", content=spec, timeout=10
        ).raise_for_status()

    # -- the run --------------------------------------------------------------------------

    def submit(self, n: int) -> list[str]:
        """Submit and queue ``n`` checks, cycling through the personas."""
        assert self.store is not None
        broker = build_broker(WorkerSettings(broker_url=self.broker_url))
        service = CheckService(self.store, BrokerDispatcher(broker), set(adapter_paths()))

        def one(i: int) -> str:
            key = PERSONAS[i % len(PERSONAS)]
            return service.submit(persona_request(key, f"CHAOS-{uuid.uuid4().hex}")).check_id

        try:
            with ThreadPoolExecutor(4) as pool:
                return list(pool.map(one, range(n)))
        finally:
            broker.close()

    def counts(self, ids: list[str]) -> dict[str, int]:
        """How many of these checks are in each status."""
        assert self.store is not None
        with self.store.session() as s:
            rows = s.execute(
                select(Check.status, func.count()).where(Check.id.in_(ids)).group_by(Check.status)
            ).all()
        return {status: int(n) for status, n in rows}

    def _ended(self, ids: list[str]) -> int:
        c = self.counts(ids)
        return c.get("decided", 0) + c.get("failed", 0)

    def _wait_ended(self, ids: list[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ended(ids) == len(ids):
                return True
            self._check_workers_alive()
            time.sleep(1)
        return False

    def _check_workers_alive(self) -> None:
        # Every worker gone by itself means nothing will ever end the checks: say why now
        # rather than wait out the timeout.
        if self.groups and all(g.dead() for g in self.groups):
            tail = self.groups[0].log.read_text(errors="replace").splitlines()[-5:]
            raise RuntimeError("every chaos worker exited: " + " | ".join(tail))

    def _rerun_failed(self) -> int:
        done = subprocess.run(
            [_checkctl(), "rerun", "--failed", "--json"],
            env=self.worker_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode not in (0, 1):
            raise RuntimeError(f"checkctl rerun --failed exited {done.returncode}: {done.stderr}")
        return len(json.loads(done.stdout or "{}"))

    def run(self, log_dir: Path) -> ChaosResult:
        """The whole run; returns its figures."""
        cfg = self.cfg
        started = time.monotonic()
        with self.environment(log_dir):
            httpx.post(
                f"{self.sandbox_root}/_sandbox/latency", content=str(cfg.latency_ms), timeout=10
            ).raise_for_status()
            self.say(f"submitting {cfg.checks} checks ({cfg.broker})")
            ids = self.submit(cfg.checks)
            env = self.worker_env()
            groups = [WorkerGroup(f"w{i + 1}", env, cfg.threads, log_dir) for i in range(2)]
            self.groups = groups[: cfg.workers]
            for g in groups[: cfg.workers]:
                g.start()
            result = ChaosResult(broker=cfg.broker, checks=len(ids), kills=0, fault_changes=0)
            seen: set[str] = set()
            try:
                self._chaos(ids, groups[: cfg.workers], result, seen)
                result.ended_during_chaos = self._ended(ids)
                self.set_faults("")
                self.say("faults cleared; waiting for every check to end")
                # Checks stuck on a killed worker come back by redelivery or the reconciler.
                self._wait_ended(ids, cfg.recover_s)
                for _ in range(3):  # a rerun can meet a breaker still open from the chaos
                    failed = self.counts(ids).get("failed", 0)
                    if result.reruns == 0:
                        result.failed_before_rerun = failed
                    if not failed:
                        break
                    self.say(f"checkctl rerun --failed ({failed} failed)")
                    result.reruns += self._rerun_failed()
                    time.sleep(2)
                    self._wait_ended(ids, cfg.recover_s)
            finally:
                for g in groups:
                    g.stop()
            result.faults_seen = sorted(seen)
            self._figures(ids, result)
        result.seconds = round(time.monotonic() - started, 1)
        return result

    def _chaos(
        self, ids: list[str], groups: list[WorkerGroup], result: ChaosResult, seen: set[str]
    ) -> None:
        cfg = self.cfg
        agencies = sorted(self.sandbox_urls)
        end = time.monotonic() + cfg.chaos_s
        next_kill = time.monotonic() + cfg.kill_every_s
        victim = 0
        while time.monotonic() < end:
            spec = ";".join(f"{a}={f}" for a in agencies if (f := self.rng.choice(FAULTS)))
            self.set_faults(spec)
            result.fault_changes += 1
            seen.update(f.split("=", 1)[1] for f in spec.split(";") if f)
            time.sleep(cfg.fault_every_s)
            if time.monotonic() >= next_kill:
                g = groups[victim % len(groups)]
                g.kill()
                g.start()
                result.kills += 1
                victim += 1
                next_kill += cfg.kill_every_s
                self.say(f"killed and restarted {g.name} ({result.kills} kills)")
            if self._ended(ids) == len(ids):
                break

    def _figures(self, ids: list[str], result: ChaosResult) -> None:
        assert self.store is not None
        counts = self.counts(ids)
        result.decided = counts.get("decided", 0)
        result.failed = counts.get("failed", 0)
        result.lost = len(ids) - result.decided - result.failed
        report = audit_ledger(self.store, fetch_searches(self.sandbox_root), check_ids=ids)
        result.duplicate_searches = len(report.duplicates)
        result.ledger_mismatches = report.mismatches
        result.ledger_rows = report.ledger_rows
        result.agency_searches = report.agency_searches
        result.unknown_rows = report.unknown_seen + report.unknown_unseen


def result_json(result: ChaosResult) -> str:
    """The figures as one JSON object (with ``ok``)."""
    return json.dumps({**asdict(result), "ok": result.ok})


def main(argv: list[str] | None = None) -> int:
    """Run once with the command line's sizes; print the figures."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checks", type=int, default=2000)
    p.add_argument("--broker", choices=("redis", "rabbitmq"), default="redis")
    p.add_argument(
        "--redis-url", default=os.environ.get("CHECKS_TEST_REDIS_URL", "redis://127.0.0.1:6379/1")
    )
    p.add_argument("--threads", type=int, default=8, help="threads per worker process")
    p.add_argument(
        "--latency-ms", type=int, default=100, help="every agency's latency when it has no fault"
    )
    p.add_argument("--kill-every", type=float, default=5.0, help="seconds between SIGKILLs")
    p.add_argument("--chaos-seconds", type=float, default=120.0, help="longest chaos phase")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = p.parse_args(argv)
    stop_on_sigterm()  # a SIGTERM still kills the worker process groups
    configure_logging("ERROR")  # this process only submits; progress goes to stderr
    cfg = ChaosConfig(
        checks=args.checks,
        broker=args.broker,
        redis_url=args.redis_url,
        threads=args.threads,
        latency_ms=args.latency_ms,
        kill_every_s=args.kill_every,
        chaos_s=args.chaos_seconds,
        seed=args.seed,
    )
    say = (lambda line: print(line, file=sys.stderr)) if args.json else print
    with tempfile.TemporaryDirectory(prefix="chaos-") as logs:
        result = Chaos(cfg, say).run(Path(logs))
    if args.json:
        print(result_json(result))
    else:
        print(
            f"{result.broker}: {result.checks} checks, {result.kills} kills, "
            f"{result.fault_changes} fault changes ({', '.join(result.faults_seen)}); "
            f"{result.ended_during_chaos} ended during the chaos; "
            f"{result.failed_before_rerun} failed before `rerun --failed`; "
            f"decided {result.decided}, failed {result.failed}; lost {result.lost}, "
            f"duplicate searches {result.duplicate_searches}, "
            f"ledger mismatches {result.ledger_mismatches} "
            f"({result.ledger_rows} ledger rows, {result.agency_searches} agency searches) "
            f"in {result.seconds:.0f} s"
        )
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
