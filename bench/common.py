"""Shared plumbing for the benchmarks: throw-away deployments, RSS sampling, profile attribution.

Nothing here is imported by the service; the benchmarks only call the service's public
entry points (``initialise``, ``Runtime``, the domain services) the way the CLI does.
"""

from __future__ import annotations

import json
import os
import platform
import pstats
import resource
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PG_ADMIN_URL = os.environ.get(
    "CUSTODIA_BENCH_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
RESULTS_DIR = REPO / "bench" / "results"
ADMIN = "admin"
OFFICER = "officer.bench"
AUDITOR = "auditor.bench"


# ---- machine ---------------------------------------------------------------------------------


def _pg_version() -> str:
    try:
        with _pg_admin() as connection:
            row = connection.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else "?"
    except Exception as error:  # pragma: no cover - reported, not fatal
        return f"unreachable ({error.__class__.__name__})"


def machine_info() -> dict[str, Any]:
    mem_kb = 0
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    cpu = "?"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import cryptography
    import sqlalchemy

    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": _pg_version(),
        "sqlalchemy": sqlalchemy.__version__,
        "cryptography": cryptography.__version__,
        "loadavg_at_start": os.getloadavg(),
    }


def code_fingerprint() -> dict[str, Any]:
    """Which service code was measured: git HEAD plus a digest of the working tree's
    service/ sources (others edit the tree while benchmarks run; results must say what
    they measured)."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((REPO / "service").rglob("*.py")):
        digest.update(str(path.relative_to(REPO)).encode())
        digest.update(path.read_bytes())
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        head = "?"
    return {"git_head": head, "service_tree_sha256": digest.hexdigest()[:12],
            "captured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


# ---- databases -------------------------------------------------------------------------------


def _pg_admin():  # type: ignore[no-untyped-def]
    import psycopg

    dsn = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(dsn, autocommit=True, connect_timeout=5)


def pg_url(name: str) -> str:
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


@contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    """A fresh empty database URL of ``kind`` ('sqlite' or 'postgresql'), dropped afterwards."""
    if kind == "sqlite":
        data = workdir / "data"
        data.mkdir(mode=0o700, parents=True, exist_ok=True)
        yield f"sqlite:///{data / 'custodia.db'}"
        return
    if kind != "postgresql":
        raise ValueError(kind)
    name = f"custodia_bench_{uuid.uuid4().hex[:10]}"
    with _pg_admin() as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg_url(name)
    finally:
        with _pg_admin() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Bench:
    """An initialised deployment with an officer (assigned to ``cases``) and an auditor."""

    settings: Any
    runtime: Any
    officer: Any
    auditor: Any
    cases: list[str]
    url: str

    def close(self) -> None:
        self.runtime.close()


def deployment(
    url: str, data_dir: Path, *, cases: Iterable[str] = ("BENCH-1",), **overrides: Any
) -> Bench:
    """``initialise`` + users/cases made through the services, and real signed-in principals."""
    from service.access.schemas import CaseCreate, UserCreate
    from service.access.auth import AuthService
    from service.access.service import CaseService, UserService
    from service.config import Settings
    from service.context import Channel, Principal, RequestContext, Role
    from service.runtime import Runtime
    from service.setup import initialise

    settings = Settings(data_dir=data_dir, database_url=url, **overrides)
    admin_pw = secrets.token_urlsafe(18)
    initialise(settings, admin_username=ADMIN, admin_password=admin_pw)
    runtime = Runtime.open(settings)
    ctx = RequestContext(channel=Channel.CLI)

    def sign_in(user: str, pw: str) -> Principal:
        return runtime.run(ctx, None, lambda s: AuthService(s).verify_cli_password(user, pw))

    admin = sign_in(ADMIN, admin_pw)
    passwords = {OFFICER: secrets.token_urlsafe(18), AUDITOR: secrets.token_urlsafe(18)}
    codes = list(cases)

    def setup(scope: Any) -> None:
        users = UserService(scope)
        users.create(
            UserCreate(
                username=OFFICER, display_name="Bench officer", role=Role.OFFICER,
                password=passwords[OFFICER],
            )
        )
        users.create(
            UserCreate(
                username=AUDITOR, display_name="Bench auditor", role=Role.AUDITOR,
                password=passwords[AUDITOR],
            )
        )
        service = CaseService(scope)
        for code in codes:
            service.create(CaseCreate(code=code, title=f"Benchmark case {code}"))
            service.set_assignment(code, OFFICER, True)

    runtime.run(ctx, admin, setup)
    return Bench(
        settings=settings,
        runtime=runtime,
        officer=sign_in(OFFICER, passwords[OFFICER]),
        auditor=sign_in(AUDITOR, passwords[AUDITOR]),
        cases=codes,
        url=url,
    )


def sqlite_file_bytes(url: str) -> int:
    """Main database file after folding the WAL back in (so the WAL is not counted twice)."""
    path = Path(url.removeprefix("sqlite:///"))
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    return path.stat().st_size


def sqlite_table_bytes(url: str, tables: Iterable[str]) -> dict[str, int]:
    """Bytes per table including its indexes (dbstat virtual table)."""
    path = Path(url.removeprefix("sqlite:///"))
    connection = sqlite3.connect(path)
    try:
        result = {}
        for table in tables:
            row = connection.execute(
                "SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name = ? OR name IN "
                "(SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?)",
                (table, table),
            ).fetchone()
            result[table] = int(row[0])
        return result
    finally:
        connection.close()


def pg_table_bytes(url: str, tables: Iterable[str]) -> dict[str, int]:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
        return {
            t: int(connection.execute("SELECT pg_total_relation_size(%s)", (t,)).fetchone()[0])
            for t in tables
        }


def pg_database_bytes(url: str) -> int:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as connection:
        return int(connection.execute("SELECT pg_database_size(current_database())").fetchone()[0])


# ---- memory ----------------------------------------------------------------------------------


def rss_kb() -> int:
    """Current resident set size from /proc/self/status (kB)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (VmHWM, and with it ru_maxrss) to VmRSS now.

    Set-up signs users in with argon2id (64 MiB per hash), which would otherwise be the peak
    of every run; resetting right before the measured phase makes ru_maxrss that phase's.
    """
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def vm_hwm_kb() -> int:
    """This process's own RSS high-water mark (VmHWM, kB); reset by ``reset_peak_rss``.

    Unlike ru_maxrss it does not include the parent's high-water mark that Linux carries
    into a child across exec (signal->maxrss), which floors ru_maxrss of every worker the
    driver spawns at the driver's own peak.
    """
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def peak_rss_kb() -> int:
    """ru_maxrss of this process: kilobytes on Linux, a high-water mark since process start."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


@dataclass
class RssSampler:
    """Samples VmRSS every ``interval`` seconds on a daemon thread while running."""

    interval: float = 0.5
    samples: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        start = time.perf_counter()

        def loop() -> None:
            while not self._stop.is_set():
                self.samples.append((time.perf_counter() - start, rss_kb()))
                self._stop.wait(self.interval)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self.samples.append((self.samples[-1][0] if self.samples else 0.0, rss_kb()))

    def summary(self, points: int = 10) -> dict[str, Any]:
        values = [kb for _, kb in self.samples]
        if not values:
            return {}
        n = len(values)
        picks = sorted({round(i * (n - 1) / (points - 1)) for i in range(points)})
        # Growth between the first and last quarter of the run, which is what "flat" means.
        q = max(1, n // 4)
        first, last = statistics.median(values[:q]), statistics.median(values[-q:])
        return {
            "samples": n,
            "min_mb": round(min(values) / 1024, 1),
            "max_mb": round(max(values) / 1024, 1),
            "first_quarter_median_mb": round(first / 1024, 1),
            "last_quarter_median_mb": round(last / 1024, 1),
            "growth_mb": round((last - first) / 1024, 1),
            "series_mb": [(round(self.samples[i][0], 1), round(values[i] / 1024, 1)) for i in picks],
        }


# ---- CPU accounting --------------------------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK")


def pg_backend_cpu(dbname: str | None) -> float:
    """CPU seconds (user+system) of the PostgreSQL backends serving ``dbname`` right now.

    Read from /proc (the server runs on this machine). A backend that exits between two
    readings takes its CPU with it; the benchmarks keep pooled connections open, so that is
    rare, and the figure is a lower bound.
    """
    if not dbname:
        return 0.0
    total = 0.0
    needle = f" {dbname} ".encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                cmd = handle.read()
            if not cmd.startswith(b"postgres:") or needle not in cmd + b" ":
                continue
            with open(f"/proc/{entry.name}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / _TICKS
        except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
            continue
    return total


def pg_dbname(url: str) -> str | None:
    return None if url.startswith("sqlite") else url.rsplit("/", 1)[1]


@dataclass
class CpuMeter:
    """Wall time, this process's CPU time and the PostgreSQL backends' CPU time of a phase.

    On a shared, oversubscribed machine wall time mostly measures the neighbours; CPU time
    measures the work. ``cpu_bound_rate`` = items / (client CPU + server CPU) is what the
    phase would sustain on an otherwise idle machine if client and server did not overlap.
    """

    dbname: str | None = None
    wall: float = 0.0
    client_cpu: float = 0.0
    server_cpu: float = 0.0

    def __enter__(self) -> CpuMeter:
        self._w, self._c, self._s = (
            time.perf_counter(), time.process_time(), pg_backend_cpu(self.dbname)
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._w
        self.client_cpu = time.process_time() - self._c
        self.server_cpu = max(0.0, pg_backend_cpu(self.dbname) - self._s)

    def as_dict(self, items: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "wall_s": round(self.wall, 3),
            "client_cpu_s": round(self.client_cpu, 3),
            "server_cpu_s": round(self.server_cpu, 3),
        }
        if items:
            cpu = self.client_cpu + self.server_cpu
            out["per_s_wall"] = round(items / self.wall, 1)
            out["per_s_cpu_bound"] = round(items / cpu, 1) if cpu else None
        return out


def cpu_pressure() -> str:
    try:
        with open("/proc/pressure/cpu") as handle:
            return handle.readline().strip()
    except OSError:
        return "n/a"


# ---- profiles --------------------------------------------------------------------------------

FuncKey = tuple[str, int, str]


def inclusive_time(stats: pstats.Stats, members: Callable[[FuncKey], bool]) -> float:
    """Time spent inside any function of a set, counting each call chain once.

    Sums the cumulative time of call edges that *enter* the set from outside it, so a set
    member called by another member is not counted twice (cProfile's per-edge data).
    """
    raw: dict[FuncKey, Any] = stats.stats  # type: ignore[attr-defined]
    total = 0.0
    for func, (_cc, _nc, _tt, _ct, callers) in raw.items():
        if not members(func):
            continue
        for caller, edge in callers.items():
            if not members(caller):
                total += edge[3]
    return total


def profile_total(stats: pstats.Stats) -> float:
    return float(stats.total_tt)  # type: ignore[attr-defined]


def top_functions(stats: pstats.Stats, key: str, n: int = 25) -> list[dict[str, Any]]:
    raw: dict[FuncKey, Any] = stats.stats  # type: ignore[attr-defined]
    index = {"tottime": 2, "cumtime": 3}[key]
    rows = sorted(raw.items(), key=lambda item: item[1][index], reverse=True)[:n]
    out = []
    for (filename, line, name), (_cc, nc, tt, ct, _callers) in rows:
        short = filename
        for marker in ("site-packages/", str(REPO) + "/"):
            if marker in short:
                short = short.split(marker, 1)[1]
        out.append(
            {"function": f"{short}:{line}({name})", "calls": nc, "tottime": round(tt, 3),
             "cumtime": round(ct, 3)}
        )
    return out


# ---- numbers and output ----------------------------------------------------------------------


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def save_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    return path


def run_worker(script: Path, args: list[str], timeout: float | None = None) -> dict[str, Any]:
    """Run ``script --worker ...`` in a fresh interpreter (own ru_maxrss), return its JSON."""
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        check=False,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise RuntimeError(f"worker {args} failed with exit code {proc.returncode}")
    last = proc.stdout.strip().splitlines()[-1]
    result: dict[str, Any] = json.loads(last)
    return result


def scratch_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
