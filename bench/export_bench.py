"""Export benchmark (issue #6): build and offline-verify a bag of N testimonies × 1 MB.

Set-up (not timed) makes a fresh deployment in a temporary directory: an administrator,
an officer, two investigators, one case, ``max(--sizes)`` testimonies with consent to
``un_mechanisms``, each with one attachment of ``--attachment-bytes`` incompressible
random bytes (a JPEG signature, then ``os.urandom``), uploaded through
``AttachmentService.upload`` so they are encrypted as in production. Then an
``un_mechanisms`` recipient profile (and, with ``--age``, one encrypted to an age key).

For each size N in ``--sizes`` (the first N testimonies) and each of ``--runs`` rounds:

* an export request by one investigator and its approval by the other (not timed);
* **build**: ``ExportService.build`` as ``custodia export build`` runs it;
* the bag is downloaded through ``ExportService.download`` (timed separately, reported
  but not a goal) and extracted to a directory (not timed);
* **verify dir**: ``verify_bag`` of the extracted directory;
* **verify tar**: ``verify_bag_at`` of the tar, as ``custodia bundle verify`` does (one
  pass over the archive, nothing extracted);
* with ``--age``: the same build to the age profile and ``verify_bag_at(path,
  identity=...)`` of the ``.tar.age`` (decrypted to a temporary file first).

Every measured phase runs in its own interpreter (``--worker``). The worker signs in first
(argon2id, 64 MiB), resets the kernel's RSS high-water mark (``/proc/self/clear_refs``),
runs the phase, and reports VmHWM: the peak RSS of that phase alone. MB/s are of the
payload (Payload-Oxum bytes, 1 MB = 10^6 bytes); medians over the runs.

    .venv/bin/python bench/export_bench.py                      # 100 and 1,000, 3 runs
    .venv/bin/python bench/export_bench.py --sizes 1000 --age --backend postgres
    .venv/bin/python bench/export_bench.py --sizes 200 --runs 1 --profile   # cProfile

Writes ``bench/results/export-<max N>[-postgresql].json`` and prints a table.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import secrets
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common

SCRIPT = Path(__file__).resolve()
CASE = "BENCH-EXPORT"
REQUESTER = "investigator.req"
APPROVER = "investigator.appr"
PHASES = ("build", "download", "verify_dir", "verify_tar", "build_age", "verify_age")
GOALS = {"build": 100.0, "verify_dir": 200.0, "verify_tar": 200.0}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---- deployment ------------------------------------------------------------------------------


def _settings(url: str, data_dir: Path) -> Any:
    from service.config import Settings

    return Settings(data_dir=data_dir, database_url=url)


def _sign_in(runtime: Any, username: str, password: str) -> Any:
    from service.access.auth import AuthService
    from service.context import Channel, RequestContext

    ctx = RequestContext(channel=Channel.CLI)
    return runtime.run(ctx, None, lambda s: AuthService(s).verify_cli_password(username, password))


def _context() -> Any:
    from service.context import Channel, RequestContext

    return RequestContext(channel=Channel.CLI)


def _record(index: int, category: str) -> Any:
    from service.testimony.schemas import TestimonyImport

    return TestimonyImport.model_validate(
        {
            "external_id": f"BENCH-EXPORT-{index:06d}",
            "case": CASE,
            "interview": {
                "date": "2024-03-14",
                "place": "Seoul",
                "language": "ko",
                "interviewer": "officer.kim",
            },
            "witness": {
                "pseudonym": f"W-BENCH-{index:06d}",
                "identity": {"legal_name": f"Bench witness {index}", "birth_year": 1985},
            },
            "consent": {"scopes": ["un_mechanisms"], "given_on": "2024-03-14"},
            "narrative": {
                "original": "2016년 5월 회령 보위부 구류장에서 조사를 받으며 매일 맞았습니다. "
                * 20,
                "translation_en": "In May 2016 I was beaten every day during interrogation in "
                "the MSS holding centre in Hoeryong. " * 20,
            },
            "incidents": [
                {
                    "categories": [category],
                    "date": "2016-05",
                    "date_precision": "month",
                    "place": "Hoeryong, North Hamgyong",
                    "facility": "MSS holding centre",
                    "perpetrator_institution": "Ministry of State Security",
                    "involvement": "victim",
                    "description": "Beaten during interrogation.",
                }
            ],
        }
    )


class _RandomJpeg:
    """``read(size)`` over a JPEG signature and then random bytes, ``total`` in all."""

    def __init__(self, total: int) -> None:
        self.left = total
        self.head = b"\xff\xd8\xff\xe0"

    def read(self, size: int = -1, /) -> bytes:
        if size < 0:
            size = self.left
        size = min(size, self.left)
        if self.head:
            data, self.head = self.head[:size], self.head[size:]
        else:
            data = os.urandom(size)
        self.left -= len(data)
        return data


def setup(url: str, data_dir: Path, count: int, attachment_bytes: int, age: bool) -> dict[str, Any]:
    """A deployment with ``count`` testimonies, each with one attachment; returns credentials."""
    from service.access.schemas import CaseCreate, UserCreate
    from service.access.service import CaseService, UserService
    from service.context import Role
    from service.export.schemas import RecipientKind, RecipientProfileCreate
    from service.export.service import ExportService
    from service.runtime import Runtime
    from service.setup import initialise
    from service.taxonomy.service import Taxonomy
    from service.testimony.attachments import AttachmentService
    from service.testimony.service import TestimonyService

    settings = _settings(url, data_dir)
    passwords = {
        name: secrets.token_urlsafe(18)
        for name in (common.ADMIN, common.OFFICER, REQUESTER, APPROVER)
    }
    initialise(settings, admin_username=common.ADMIN, admin_password=passwords[common.ADMIN])
    runtime = Runtime.open(settings)
    ctx = _context()
    try:
        admin = _sign_in(runtime, common.ADMIN, passwords[common.ADMIN])

        def people(scope: Any) -> None:
            users = UserService(scope)
            for name, role in (
                (common.OFFICER, Role.OFFICER),
                (REQUESTER, Role.INVESTIGATOR),
                (APPROVER, Role.INVESTIGATOR),
            ):
                users.create(
                    UserCreate(
                        username=name, display_name=name, role=role, password=passwords[name]
                    )
                )
            cases = CaseService(scope)
            cases.create(CaseCreate(code=CASE, title="Export benchmark"))
            for name in (common.OFFICER, REQUESTER, APPROVER):
                cases.set_assignment(CASE, name, True)

        runtime.run(ctx, admin, people)
        officer = _sign_in(runtime, common.OFFICER, passwords[common.OFFICER])
        category = sorted(c.code for c in Taxonomy.load().categories.values() if c.parent)[0]
        ids: list[str] = []
        started = time.perf_counter()
        batch = 25
        for first in range(0, count, batch):

            def work(scope: Any, first: int = first) -> list[str]:
                made = []
                for index in range(first, min(first + batch, count)):
                    created = TestimonyService(scope).create(_record(index, category))
                    AttachmentService(scope).upload(
                        created.id,
                        f"evidence-{index:06d}.jpg",
                        "image/jpeg",
                        _RandomJpeg(attachment_bytes),
                    )
                    made.append(created.id)
                return made

            ids += runtime.run(ctx, officer, work)
            done = len(ids)
            rate = done / (time.perf_counter() - started)
            log(f"setup: {done:,}/{count:,} testimonies with attachment ({rate:.1f}/s)")

        age_identity = age_recipient = None
        if age:
            import pyrage

            identity = pyrage.x25519.Identity.generate()
            age_identity = str(identity)
            age_recipient = str(identity.to_public())

        def profiles(scope: Any) -> None:
            service = ExportService(scope)
            service.create_profile(
                RecipientProfileCreate(name="bench-un", kind=RecipientKind.UN_MECHANISMS)
            )
            if age_recipient:
                service.create_profile(
                    RecipientProfileCreate(
                        name="bench-un-age",
                        kind=RecipientKind.UN_MECHANISMS,
                        age_recipient=age_recipient,
                    )
                )

        runtime.run(ctx, admin, profiles)
    finally:
        runtime.close()
    return {
        "passwords": passwords,
        "testimony_ids": ids,
        "age_identity": age_identity,
        "setup_s": round(time.perf_counter() - started, 1),
    }


def request_and_approve(
    url: str, data_dir: Path, creds: dict[str, Any], ids: list[str], profile: str
) -> str:
    """An export request by one investigator, approved by the other (not timed)."""
    from service.export.schemas import ExportDecision, ExportRequestCreate
    from service.export.service import ExportService
    from service.runtime import Runtime

    runtime = Runtime.open(_settings(url, data_dir))
    try:
        ctx = _context()
        requester = _sign_in(runtime, REQUESTER, creds["passwords"][REQUESTER])
        approver = _sign_in(runtime, APPROVER, creds["passwords"][APPROVER])
        body = ExportRequestCreate(
            profile=profile, purpose="Export benchmark (issue #6).", testimony_ids=ids
        )
        export = runtime.run(ctx, requester, lambda s: ExportService(s).request(body))
        runtime.run(
            ctx,
            approver,
            lambda s: ExportService(s).decide(export.id, True, ExportDecision(note="bench")),
        )
        return str(export.id)
    finally:
        runtime.close()


# ---- measured phases (each in its own interpreter) -------------------------------------------


def _phase_build(args: argparse.Namespace, runtime: Any, principal: Any) -> dict[str, Any]:
    from service.export.service import ExportService

    read = runtime.run(_context(), principal, lambda s: ExportService(s).build(args.export_id))
    return {"bag_bytes": read.bag_size}


def _phase_download(args: argparse.Namespace, runtime: Any, principal: Any) -> dict[str, Any]:
    from service.export.service import ExportService

    out = Path(args.path)
    size = 0

    def work(scope: Any) -> None:
        nonlocal size
        result = ExportService(scope).download(args.export_id)
        with out.open("xb") as handle:
            for chunk in result.chunks:
                handle.write(chunk)
                size += len(chunk)

    runtime.run(_context(), principal, work)
    return {"bag_bytes": size}


def _verify(path: Path, identity: Path | None) -> dict[str, Any]:
    from service.export.verify import verify_bag_at

    report = verify_bag_at(path, identity=identity)
    return {"payload_files": report.payload_files, "events": report.events}


def worker(args: argparse.Namespace) -> None:
    needs_db = args.worker in ("build", "build_age", "download")
    runtime = principal = None
    if needs_db:
        from service.runtime import Runtime

        creds = json.loads(Path(args.creds).read_text())
        runtime = Runtime.open(_settings(args.url, Path(args.data_dir)))
        principal = _sign_in(runtime, REQUESTER, creds["passwords"][REQUESTER])
    else:
        import service.export.verify  # noqa: F401  (import cost is not the phase's)
    reset = common.reset_peak_rss()
    before_kb = common.rss_kb()
    profiler = cProfile.Profile() if args.profile_to else None
    meter = common.CpuMeter(common.pg_dbname(args.url) if needs_db else None)
    with meter:
        if profiler:
            profiler.enable()
        if args.worker in ("build", "build_age"):
            extra = _phase_build(args, runtime, principal)
        elif args.worker == "download":
            extra = _phase_download(args, runtime, principal)
        else:
            extra = _verify(Path(args.path), Path(args.identity) if args.identity else None)
        if profiler:
            profiler.disable()
    if profiler:
        profiler.dump_stats(args.profile_to)
    if runtime is not None:
        runtime.close()
    print(
        json.dumps(
            {
                **meter.as_dict(),
                "rss_before_mb": round(before_kb / 1024, 1),
                "peak_rss_mb": round(common.vm_hwm_kb() / 1024, 1),
                "peak_reset": reset,
                **extra,
            }
        )
    )


def run_phase(phase: str, extra: list[str]) -> dict[str, Any]:
    return common.run_worker(SCRIPT, ["--worker", phase, *extra])


# ---- driver ----------------------------------------------------------------------------------


def payload_bytes(bag_dir: Path) -> tuple[int, int]:
    """(bytes, files) from the bag's Payload-Oxum."""
    for line in (bag_dir / "bag-info.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("Payload-Oxum:"):
            size, files = line.split(":", 1)[1].strip().split(".")
            return int(size), int(files)
    raise ValueError("no Payload-Oxum")


def extract(tar_path: Path, into: Path) -> Path:
    with tarfile.open(tar_path) as archive:
        archive.extractall(into, filter="data")
    (root,) = list(into.iterdir())
    return root


def summarise(runs: list[dict[str, Any]], payload: int) -> dict[str, Any]:
    walls = [r["wall_s"] for r in runs]
    wall = common.median(walls)
    cpu = common.median(r["client_cpu_s"] + r["server_cpu_s"] for r in runs)
    return {
        "runs": runs,
        "wall_s": round(wall, 2),
        "walls_s": walls,
        "mb_per_s": round(payload / 1e6 / wall, 1),
        "cpu_s": round(cpu, 2),
        "mb_per_cpu_s": round(payload / 1e6 / cpu, 1) if cpu else None,
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "rss_before_mb": common.median(r["rss_before_mb"] for r in runs),
    }


def measure_size(
    n: int, args: argparse.Namespace, url: str, data_dir: Path, creds: dict[str, Any], work: Path
) -> dict[str, Any]:
    ids = creds["testimony_ids"][:n]
    base = ["--url", url, "--data-dir", str(data_dir), "--creds", str(work / "creds.json")]
    results: dict[str, list[dict[str, Any]]] = {p: [] for p in PHASES}
    payload = files = 0
    prof_dir = common.RESULTS_DIR
    for run in range(1, args.runs + 1):
        profile = args.profile and run == 1
        export_id = request_and_approve(url, data_dir, creds, ids, "bench-un")
        prof = ["--profile-to", str(prof_dir / f"export-build-{n}.prof")] if profile else []
        results["build"].append(run_phase("build", [*base, "--export-id", export_id, *prof]))
        log(f"N={n} run {run}: build {results['build'][-1]['wall_s']} s")
        tar = work / f"bag-{n}-{run}.tar"
        results["download"].append(
            run_phase("download", [*base, "--export-id", export_id, "--path", str(tar)])
        )
        bag_dir = extract(tar, work / f"dir-{n}-{run}")
        payload, files = payload_bytes(bag_dir)
        prof = ["--profile-to", str(prof_dir / f"export-verify-dir-{n}.prof")] if profile else []
        results["verify_dir"].append(run_phase("verify_dir", ["--path", str(bag_dir), *prof]))
        log(f"N={n} run {run}: verify dir {results['verify_dir'][-1]['wall_s']} s")
        common.remove(bag_dir.parent)
        prof = ["--profile-to", str(prof_dir / f"export-verify-tar-{n}.prof")] if profile else []
        results["verify_tar"].append(run_phase("verify_tar", ["--path", str(tar), *prof]))
        log(f"N={n} run {run}: verify tar {results['verify_tar'][-1]['wall_s']} s")
        tar.unlink()
        if args.age:
            age_id = request_and_approve(url, data_dir, creds, ids, "bench-un-age")
            results["build_age"].append(run_phase("build_age", [*base, "--export-id", age_id]))
            age_tar = work / f"bag-{n}-{run}.tar.age"
            run_phase("download", [*base, "--export-id", age_id, "--path", str(age_tar)])
            identity = work / "age-identity.txt"
            results["verify_age"].append(
                run_phase("verify_age", ["--path", str(age_tar), "--identity", str(identity)])
            )
            log(
                f"N={n} run {run}: age build {results['build_age'][-1]['wall_s']} s, "
                f"verify {results['verify_age'][-1]['wall_s']} s"
            )
            age_tar.unlink()
    out: dict[str, Any] = {"testimonies": n, "payload_bytes": payload, "payload_files": files}
    for phase, runs in results.items():
        if runs:
            out[phase] = summarise(runs, payload)
    out["bag_bytes"] = results["download"][0].get("bag_bytes")
    return out


def table(result: dict[str, Any]) -> str:
    head = (
        "| N | payload MB | build s (MB/s) | verify dir s (MB/s) | verify tar s (MB/s) "
        "| peak RSS MB: build / verify dir / verify tar |"
    )
    rows = [head, "|---|---|---|---|---|---|"]
    for size in result["sizes"]:

        def cell(phase: str, size: dict[str, Any] = size) -> str:
            p = size.get(phase)
            return f"{p['wall_s']:.2f} ({p['mb_per_s']:.0f})" if p else "–"

        rss = " / ".join(
            f"{size[p]['peak_rss_mb']:.0f}" for p in ("build", "verify_dir", "verify_tar")
        )
        rows.append(
            f"| {size['testimonies']:,} | {size['payload_bytes'] / 1e6:,.1f} | {cell('build')} "
            f"| {cell('verify_dir')} | {cell('verify_tar')} | {rss} |"
        )
    if any("build_age" in s for s in result["sizes"]):
        rows += [
            "",
            "| N | age build s (MB/s) | age verify s (MB/s) | peak RSS MB: build / verify |",
        ]
        rows.append("|---|---|---|---|")
        for size in result["sizes"]:
            if "build_age" not in size:
                continue
            b, v = size["build_age"], size["verify_age"]
            rows.append(
                f"| {size['testimonies']:,} | {b['wall_s']:.2f} ({b['mb_per_s']:.0f}) "
                f"| {v['wall_s']:.2f} ({v['mb_per_s']:.0f}) "
                f"| {b['peak_rss_mb']:.0f} / {v['peak_rss_mb']:.0f} |"
            )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000", help="bag sizes N, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--attachment-bytes", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--age", action="store_true", help="also the age-encrypted variant")
    parser.add_argument("--profile", action="store_true", help="cProfile the first run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--tag", default="", help="suffix of the results file name")
    parser.add_argument("--worker", choices=PHASES)
    for name in (
        "--url",
        "--data-dir",
        "--creds",
        "--export-id",
        "--path",
        "--identity",
        "--profile-to",
    ):
        parser.add_argument(name)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    sizes = sorted(int(s) for s in args.sizes.split(","))
    kind = "postgresql" if args.backend == "postgres" else "sqlite"
    work = common.scratch_dir("custodia-export-bench-")
    started = time.perf_counter()
    log(f"work directory {work}")
    try:
        with common.database(kind, work) as url:
            data_dir = work / "data"
            creds = setup(url, data_dir, sizes[-1], args.attachment_bytes, args.age)
            (work / "creds.json").write_text(json.dumps(creds))
            if creds["age_identity"]:
                (work / "age-identity.txt").write_text(creds["age_identity"] + "\n")
            log(f"setup done in {creds['setup_s']} s")
            result: dict[str, Any] = {
                "benchmark": "export",
                "backend": kind,
                "runs": args.runs,
                "attachment_bytes": args.attachment_bytes,
                "setup_s": creds["setup_s"],
                "machine": common.machine_info(),
                "code": common.code_fingerprint(),
                "cpu_pressure_at_start": common.cpu_pressure(),
                "goals_mb_per_s": GOALS,
                "sizes": [],
            }
            for n in sizes:
                result["sizes"].append(measure_size(n, args, url, data_dir, creds, work))
            result["cpu_pressure_at_end"] = common.cpu_pressure()
            result["loadavg_at_end"] = os.getloadavg()
            result["wall_s"] = round(time.perf_counter() - started, 1)
    finally:
        if not args.keep:
            common.remove(work)
    suffix = ("" if kind == "sqlite" else f"-{kind}") + (f"-{args.tag}" if args.tag else "")
    path = common.save_result(f"export-{sizes[-1]}{suffix}", result)
    print(table(result))
    for size in result["sizes"]:
        for phase, goal in GOALS.items():
            got = size[phase]["mb_per_s"]
            verdict = "met" if got >= goal else "MISSED"
            print(f"N={size['testimonies']}: {phase} {got} MB/s, goal {goal:.0f}: {verdict}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
