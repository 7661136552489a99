"""Bulk-import benchmark: ``import_lines`` on SQLite (embedded default, WAL) and PostgreSQL.

Generates N synthetic testimonies (Korean narrative of ~1,500 words, English translation of
~1,500 words, 1-3 coded incidents, a sealed identity) into a JSONL file first (not timed),
then times ``service.testimony.importer.import_lines`` exactly as ``custodia import`` calls
it: a real officer principal signed in with ``verify_cli_password``, channel ``cli``,
batches of 200 lines per transaction. Each measured import runs in its own interpreter, so
``ru_maxrss`` is the peak of that import alone.

    .venv/bin/python bench/import_bench.py                  # 10,000 + 3x1,000 + profile
    .venv/bin/python bench/import_bench.py --count 2000 --dbs sqlite --skip-profile

Results are printed and written to ``bench/results/import-<count>.json``.
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import json
import pstats
import random
import re
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402

SCRIPT = Path(__file__).resolve()
SAMPLE = common.REPO / "schemas" / "samples" / "testimonies.sample.jsonl"

# ---- synthetic testimonies -------------------------------------------------------------------

# Frequent Hangul syllables (roughly by corpus frequency) for the synthetic long tail.
_KO_SYLLABLES = (
    "이다의는에을가고하지기리서사자대한로수도를어아나부정인시스니보주"
    "우해상제전일과게면장여국다마동들소적문조것만원방성발계무관회경비"
    "선그요용실구내안생신위간거오화분작공진라체학세연중물모개도명보현"
    "통결후교법터추모함탈북강회령청진혜산온성무산감옥노동단련대구류장"
)
_KO_PARTICLES = ("", "", "", "은", "는", "이", "가", "을", "를", "에", "에서", "으로", "의", "도")
_KO_ENDINGS = ("습니다.", "었습니다.", "했습니다.", "고", "는데", "지만", "었다.", "어서")
_KO_SURNAMES = "김이박최정강조윤장임한오서신권황안송류홍"
_KO_GIVEN = "영순철민정희숙명옥경미수진혜성광남일금춘화은선복"

_EN_COMMON = (
    "the of and to a in was i my we were they he she it that for on with at from by as had "
    "not but were there their them this his her into when after before then one two three "
    "day days night week month months year years time people guards guard officers officer "
    "prison camp cell cells room police security border river china chinese north korea "
    "korean mother father brother sister family village town city station house work worked "
    "food rice water sick beaten beat interrogation interrogated asked told said would could "
    "every all some other no more many few again still only never always because so while "
    "took taken sent released arrested detained held kept crossed caught returned forced "
    "women men children others inside outside morning evening hours long small cold hungry"
).split()

_PLACES = (
    "Hoeryong", "Chongjin", "Musan", "Hyesan", "Onsong", "Hamhung", "Pyongyang", "Sinuiju",
    "Kimchaek", "Kilju", "Yodok", "Kaechon", "Jongo-ri", "Tumen", "Yanji", "Shenyang",
)
_FACILITIES = (
    "MSS holding centre", "MPS holding centre", "labour training camp", "kyohwaso No. 12",
    "border guard post", "collection point", "provincial MSS detention facility",
)
_PERPETRATORS = (
    "Ministry of State Security", "Ministry of Social Security", "Border Guard Command",
    "Korean People's Army", "Chinese Public Security Bureau",
)
_INTERVIEWERS = ("officer.kim", "officer.lee", "officer.park", "officer.choi", "officer.yoon")
_SCOPES = ("internal_analysis", "un_mechanisms", "judicial_proceedings", "public_anonymised")
_INVOLVEMENT = ("victim", "victim", "victim", "direct_witness", "hearsay")


def _zipf_cumulative(n: int, s: float = 1.07) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank**s) for rank in range(1, n + 1)))


class TextGenerator:
    """Korean and English word streams with a Zipf-like rank-frequency distribution.

    The head of each vocabulary is real words taken from the shipped sample testimonies
    (most frequent first); the tail is synthetic (syllable combinations), so the text
    compresses and tokenises roughly like real narrative rather than random bytes.
    """

    def __init__(self, rng: random.Random, vocab: int = 8000) -> None:
        self.rng = rng
        ko_counts: dict[str, int] = {}
        en_counts: dict[str, int] = {}
        for line in SAMPLE.read_text(encoding="utf-8").splitlines():
            doc = json.loads(line)
            for word in re.findall(r"[가-힣]+", doc["narrative"]["original"]):
                ko_counts[word] = ko_counts.get(word, 0) + 1
            for word in re.findall(r"[A-Za-z']+", doc["narrative"].get("translation_en") or ""):
                en_counts[word.lower()] = en_counts.get(word.lower(), 0) + 1
        ko = [w for w, _ in sorted(ko_counts.items(), key=lambda kv: -kv[1])]
        en = list(dict.fromkeys(_EN_COMMON + [w for w, _ in sorted(en_counts.items(), key=lambda kv: -kv[1])]))
        seen_ko, seen_en = set(ko), set(en)
        while len(ko) < vocab:
            stem = "".join(rng.choice(_KO_SYLLABLES) for _ in range(rng.choice((1, 2, 2, 3, 3, 4))))
            word = stem + rng.choice(_KO_PARTICLES)
            if word not in seen_ko:
                seen_ko.add(word)
                ko.append(word)
        consonants, vowels = "bcdfghklmnprstvwy", "aeiou"
        while len(en) < vocab:
            word = "".join(
                rng.choice(consonants) + rng.choice(vowels) for _ in range(rng.choice((2, 2, 3, 4)))
            ) + rng.choice(("", "", "s", "ed", "ing", "er"))
            if word not in seen_en:
                seen_en.add(word)
                en.append(word)
        self.ko, self.en = ko, en
        self.cum = _zipf_cumulative(vocab)

    def _words(self, vocab: list[str], k: int) -> list[str]:
        return self.rng.choices(vocab, cum_weights=self.cum, k=k)

    def korean(self, words: int) -> str:
        picked = self._words(self.ko, words)
        out, i, paragraph = [], 0, []
        while i < len(picked):
            n = self.rng.randint(6, 16)
            sentence = picked[i : i + n]
            sentence[-1] = sentence[-1] + self.rng.choice(_KO_ENDINGS[:3])
            if len(sentence) > 9:
                sentence[len(sentence) // 2 - 1] += self.rng.choice(_KO_ENDINGS[3:])
            paragraph.append(" ".join(sentence))
            i += n
            if len(paragraph) >= self.rng.randint(4, 9):
                out.append(" ".join(paragraph))
                paragraph = []
        if paragraph:
            out.append(" ".join(paragraph))
        return "\n\n".join(out)

    def english(self, words: int) -> str:
        picked = self._words(self.en, words)
        out, i, paragraph = [], 0, []
        while i < len(picked):
            n = self.rng.randint(8, 22)
            sentence = picked[i : i + n]
            sentence[0] = sentence[0].capitalize()
            if len(sentence) > 12:
                sentence[len(sentence) // 2] += ","
            paragraph.append(" ".join(sentence) + ".")
            i += n
            if len(paragraph) >= self.rng.randint(4, 8):
                out.append(" ".join(paragraph))
                paragraph = []
        if paragraph:
            out.append(" ".join(paragraph))
        return "\n\n".join(out)

    def korean_name(self) -> str:
        rng = self.rng
        return rng.choice(_KO_SURNAMES) + rng.choice(_KO_GIVEN) + rng.choice(_KO_GIVEN)


def _categories() -> list[str]:
    from service.taxonomy.service import Taxonomy

    taxonomy = Taxonomy.load()
    return sorted(c.code for c in taxonomy.categories.values() if c.parent)


def make_record(gen: TextGenerator, number: int, cases: list[str], codes: list[str]) -> dict[str, Any]:
    rng = gen.rng
    interviewed = date(2015, 1, 1) + timedelta(days=rng.randrange(3650))
    incidents = []
    for _ in range(rng.randint(1, 3)):
        year = rng.randint(1995, interviewed.year)
        precision = rng.choice(("year", "month", "month", "day", "range"))
        incident: dict[str, Any] = {
            "categories": rng.sample(codes, rng.randint(1, 3)),
            "date_precision": precision,
            "place": f"{rng.choice(_PLACES)}",
            "facility": rng.choice(_FACILITIES),
            "perpetrator_institution": rng.choice(_PERPETRATORS),
            "involvement": rng.choice(_INVOLVEMENT),
            "description": gen.english(rng.randint(40, 120)),
        }
        if precision == "year":
            incident["date"] = f"{year:04d}"
        elif precision == "month":
            incident["date"] = f"{year:04d}-{rng.randint(1, 12):02d}"
        else:
            start = date(year, 1, 1) + timedelta(days=rng.randrange(330))
            incident["date"] = start.isoformat()
            if precision == "range":
                incident["date_end"] = (start + timedelta(days=rng.randint(1, 30))).isoformat()
        incidents.append(incident)
    scopes = [s for s in _SCOPES if rng.random() < 0.6] or ["internal_analysis"]
    return {
        "external_id": f"BENCH-{number:07d}",
        "case": cases[number % len(cases)],
        "interview": {
            "date": interviewed.isoformat(),
            "place": rng.choice(("Seoul", "Incheon", "Busan", "Anseong", "Hanawon")),
            "language": "ko",
            "interviewer": rng.choice(_INTERVIEWERS),
        },
        "witness": {
            "pseudonym": f"W-B{number:07d}",
            "identity": {
                "legal_name": gen.korean_name(),
                "birth_year": rng.randint(1940, 2005),
                "gender": rng.choice(("female", "female", "male")),
                "contact": f"+82 10 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
                "family_in_dprk": [
                    f"{rng.choice(('어머니', '아버지', '동생', '언니', '아들', '딸'))} "
                    f"({rng.choice(_PLACES)})"
                    for _ in range(rng.randint(0, 3))
                ],
            },
        },
        "consent": {"scopes": scopes, "given_on": interviewed.isoformat()},
        "narrative": {
            "original": gen.korean(int(rng.gauss(1500, 200))),
            "translation_en": gen.english(int(rng.gauss(1500, 200))),
        },
        "incidents": incidents,
    }


def generate(path: Path, count: int, cases: list[str], seed: int = 2026) -> dict[str, Any]:
    """Write ``count`` JSONL records; returns bytes and word statistics (not timed)."""
    rng = random.Random(seed)
    gen = TextGenerator(rng)
    codes = _categories()
    started = time.perf_counter()
    ko_words = en_words = incidents = 0
    with path.open("w", encoding="utf-8") as handle:
        for number in range(count):
            record = make_record(gen, number, cases, codes)
            ko_words += len(record["narrative"]["original"].split())
            en_words += len(record["narrative"]["translation_en"].split())
            incidents += len(record["incidents"])
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return {
        "path": str(path),
        "count": count,
        "bytes": path.stat().st_size,
        "mean_bytes_per_line": round(path.stat().st_size / count),
        "mean_korean_words": round(ko_words / count),
        "mean_english_words": round(en_words / count),
        "mean_incidents": round(incidents / count, 2),
        "generation_s": round(time.perf_counter() - started, 1),
    }


# ---- worker: one measured import in a fresh interpreter --------------------------------------

CASES = [f"BENCH-{i}" for i in range(1, 6)]


def _profile_breakdown(stats: pstats.Stats) -> dict[str, Any]:
    def by_file(fragment: str, name: str | None = None):  # type: ignore[no-untyped-def]
        return lambda f: fragment in f[0] and (name is None or f[2] == name)

    def is_crypto(f: common.FuncKey) -> bool:
        return "/service/crypto/" in f[0] or "cryptography" in f[0] or "cryptography" in f[2]

    def is_hash(f: common.FuncKey) -> bool:
        return "_hashlib" in f[2] or "hashlib.py" in f[0]

    def is_dbapi(f: common.FuncKey) -> bool:
        return (
            "sqlite3.Cursor" in f[2]
            or "sqlite3.Connection" in f[2]
            or "/psycopg/" in f[0]
            or "psycopg_binary" in f[0]
        )

    def is_search(f: common.FuncKey) -> bool:
        return "/service/search/" in f[0] or "/whoosh/" in f[0]

    groups = {
        "search indexing (service.search.* + whoosh)": is_search,
        "encryption (service.crypto.* + cryptography)": is_crypto,
        "hashing (hashlib sha256)": is_hash,
        "crypto + hashing": lambda f: is_crypto(f) or is_hash(f),
        "custody append (CustodyLog.append)": by_file("service/custody/service.py", "append"),
        "  of which tree nodes (store_completed_nodes)": by_file(
            "service/custody/tree.py", "store_completed_nodes"
        ),
        "  of which checkpoint (CustodyLog.checkpoint)": by_file(
            "service/custody/service.py", "checkpoint"
        ),
        "DB flush (Session.flush, incl. autoflush)": by_file("sqlalchemy/orm/session.py", "flush"),
        "DB commit (Session.commit)": by_file("sqlalchemy/orm/session.py", "commit"),
        "DBAPI calls (sqlite3 / psycopg)": is_dbapi,
        "parse + validate line (parse_line)": by_file("service/testimony/importer.py", "parse_line"),
        "canonical_json": by_file("service/custody/canonical.py", "canonical_json"),
        "  of which _check_value": by_file("service/custody/canonical.py", "_check_value"),
        "savepoints (begin_nested)": by_file("sqlalchemy/orm/session.py", "begin_nested"),
    }
    total = common.profile_total(stats)
    shares = {}
    for label, members in groups.items():
        seconds = common.inclusive_time(stats, members)
        shares[label] = {"s": round(seconds, 3), "share": round(seconds / total, 3)}
    return {
        "total_s": round(total, 3),
        "groups": shares,
        "top_tottime": common.top_functions(stats, "tottime", 30),
        "top_cumtime": common.top_functions(stats, "cumtime", 45),
    }


def worker(args: argparse.Namespace) -> None:
    from sqlalchemy import func, select

    from service.context import Channel, RequestContext
    from service.custody.models import CustodyEvent, CustodyTreeNode
    from service.testimony.importer import import_lines

    if args.variant == "fast-custody":
        # Prototype of the recommended CustodyLog.append (bench/prototypes.py), patched into
        # this benchmark process only: Runtime.custody_log builds service.runtime.CustodyLog.
        import service.runtime

        from bench.prototypes import FastCustodyLog

        service.runtime.CustodyLog = FastCustodyLog  # type: ignore[misc]

    workdir = common.scratch_dir("custodia-import-")
    input_path = Path(args.input)
    input_bytes = input_path.stat().st_size
    try:
        with common.database(args.db, workdir) as url:
            bench = common.deployment(url, workdir / "data", cases=CASES)
            try:
                ctx = RequestContext(channel=Channel.CLI)
                progress_rss: list[tuple[int, float]] = []

                def progress(line: int) -> None:
                    if line % args.rss_every == 0:
                        progress_rss.append((line, round(common.rss_kb() / 1024, 1)))

                rss_before = common.rss_kb()
                peak_setup = common.peak_rss_kb()
                peak_reset = common.reset_peak_rss()
                profiler = cProfile.Profile() if args.profile else None
                meter = common.CpuMeter(common.pg_dbname(url))
                pressure = common.cpu_pressure()
                with (
                    common.RssSampler(interval=0.5) as sampler,
                    input_path.open(encoding="utf-8") as handle,
                    meter,
                ):
                    if profiler:
                        profiler.enable()
                    report = import_lines(
                        bench.runtime, ctx, bench.officer, handle,
                        batch_size=args.batch_size, progress=progress,
                    )
                    if profiler:
                        profiler.disable()
                elapsed = meter.wall
                peak_import = common.peak_rss_kb()
                hwm_import = common.vm_hwm_kb()
                if report.rejected:
                    raise SystemExit(f"rejected lines: {report.rejected[:3]}")

                def count(scope: Any) -> tuple[int, int]:
                    s = scope.session
                    return (
                        s.scalar(select(func.count()).select_from(CustodyEvent)),
                        s.scalar(select(func.count()).select_from(CustodyTreeNode)),
                    )

                events, nodes = bench.runtime.run(ctx, None, count)
                verified = None
                if args.variant != "baseline":  # a prototype must leave a log that verifies
                    from service.custody.note import VerifierKey
                    from service.custody.verify import verify_log

                    rt = bench.runtime
                    origin = rt.settings.custody_origin
                    with rt.session_factory() as session:
                        vr = verify_log(session, origin=origin, trusted_keys=[
                            VerifierKey.from_public_key(origin, rt.keyring.signing_public_key())])
                    if not vr.ok:
                        raise SystemExit(f"prototype log does not verify: {vr.first}")
                    verified = {"events": vr.events, "object_hashes_checked": vr.object_hashes_checked}
            finally:
                bench.close()
            db_bytes = (
                common.sqlite_file_bytes(url) if args.db == "sqlite" else common.pg_database_bytes(url)
            )
        result: dict[str, Any] = {
            "db": args.db,
            "variant": args.variant,
            "code": common.code_fingerprint(),
            "imported": report.imported,
            "batch_size": args.batch_size,
            "seconds": round(elapsed, 3),
            "cpu": meter.as_dict(report.imported),
            "cpu_pressure_before": pressure,
            "testimonies_per_s": round(report.imported / elapsed, 1),
            "testimonies_per_s_cpu_bound": meter.as_dict(report.imported)["per_s_cpu_bound"],
            "input_mb_per_s": round(input_bytes / 1e6 / elapsed, 2),
            "input_bytes": input_bytes,
            "custody_events": events,
            "custody_events_per_testimony": round(events / max(report.imported, 1), 2),
            "tree_nodes": nodes,
            "db_bytes": db_bytes,
            "rss_before_import_mb": round(rss_before / 1024, 1),
            "peak_rss_mb_vmhwm": round(hwm_import / 1024, 1),
            "peak_rss_mb_ru_maxrss": round(peak_import / 1024, 1),
            "peak_rss_is_import_only": peak_reset,
            "peak_rss_mb_incl_setup": round(max(peak_setup, peak_import) / 1024, 1),
            "rss_sampled": sampler.summary(),
            "rss_by_line_mb": progress_rss,
            "profiled": bool(profiler),
            "prototype_log_verified": verified,
        }
        if profiler:
            stats = pstats.Stats(profiler)
            if args.profile_out:
                stats.dump_stats(args.profile_out)
            result["profile"] = _profile_breakdown(stats)
        print(json.dumps(result, ensure_ascii=False))
    finally:
        common.remove(workdir)


def compute_floor(input_path: Path, limit: int = 1000) -> dict[str, Any]:
    """Per-testimony CPU of everything the import does *besides* the database: JSON parse,
    pydantic validation, canonical JSON, SHA-256 digests, data-key wrapping and AES-GCM
    sealing of content, identity and incidents (the same calls TestimonyService makes)."""
    from service.crypto.envelope import EnvelopeCipher, FieldContext
    from service.crypto.interfaces import KeyPurpose
    from service.crypto.keyring import InMemoryKeyring
    from service.testimony.importer import parse_line
    from service.testimony.sealing import content_digest, new_salt, seal_document

    envelope = EnvelopeCipher(InMemoryKeyring())
    lines = input_path.read_text(encoding="utf-8").splitlines()[:limit]
    parts = {"parse_validate": 0.0, "seal_hash": 0.0}
    started_all = time.process_time()
    for number, text in enumerate(lines):
        t0 = time.process_time()
        data = parse_line(text)
        t1 = time.process_time()
        tid = f"t{number}"
        key = envelope.new_wrapped_key(KeyPurpose.CONTENT, tid.encode())
        doc = {"testimony_id": tid, "version": 1, "interview": data.interview.model_dump(mode="json"),
               "narrative_original": data.narrative.original,
               "translation_en": data.narrative.translation_en, "salt": new_salt()}
        seal_document(key.data_key, 1, doc, FieldContext("testimony", tid, "content", 1))
        content_digest(doc)
        ikey = envelope.new_wrapped_key(KeyPurpose.IDENTITY, tid.encode())
        idoc = {"witness_id": tid, "version": 1,
                **(data.witness.identity.model_dump(mode="json") if data.witness.identity else {}),
                "salt": new_salt()}
        seal_document(ikey.data_key, 1, idoc, FieldContext("identity", tid, "identity", 1))
        content_digest(idoc)
        content_digest(idoc)
        for k, incident in enumerate(data.incidents):
            idoc2 = {"incident_id": f"{tid}-{k}", "description": incident.description,
                     "categories": sorted(incident.categories), "salt": new_salt()}
            seal_document(key.data_key, 1, idoc2, FieldContext("incident", f"{tid}-{k}", "content", 1))
            content_digest(idoc2)
        t2 = time.process_time()
        parts["parse_validate"] += t1 - t0
        parts["seal_hash"] += t2 - t1
    total = time.process_time() - started_all
    n = len(lines)
    return {
        "testimonies": n,
        "cpu_ms_per_testimony": round(total / n * 1000, 3),
        "parse_validate_ms": round(parts["parse_validate"] / n * 1000, 3),
        "seal_and_hash_ms": round(parts["seal_hash"] / n * 1000, 3),
        "ceiling_testimonies_per_s_one_core": round(n / total),
    }


# ---- driver ----------------------------------------------------------------------------------


def _run(
    db: str, input_path: Path, batch_size: int, *, profile: Path | None = None,
    variant: str = "baseline",
) -> dict[str, Any]:
    args = ["--worker", "--db", db, "--input", str(input_path), "--batch-size", str(batch_size),
            "--variant", variant]
    if profile:
        args += ["--profile", "--profile-out", str(profile)]
    return common.run_worker(SCRIPT, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="testimonies in the large run")
    parser.add_argument("--small", type=int, default=1_000, help="testimonies in repeated runs")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the small run")
    parser.add_argument("--profile-count", type=int, default=1_000)
    parser.add_argument("--dbs", default="sqlite,postgresql")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--skip-profile", action="store_true")
    parser.add_argument("--rss-every", type=int, default=250)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--prototypes", action="store_true",
                        help="interleave small runs with the prototype CustodyLog (bench/prototypes.py)")
    # worker-only
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    parser.add_argument("--variant", default="baseline", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    dbs = [d for d in args.dbs.split(",") if d]
    scratch = common.scratch_dir("custodia-import-input-")
    out: dict[str, Any] = {"machine": common.machine_info(), "args": vars(args), "runs": {}}
    try:
        sizes = sorted({args.small, args.profile_count} | (set() if args.skip_large else {args.count}))
        inputs: dict[int, Path] = {}
        for n in sizes:
            inputs[n] = scratch / f"testimonies-{n}.jsonl"
            info = generate(inputs[n], n, CASES, seed=args.seed)
            out.setdefault("inputs", {})[n] = info
            print(f"generated {n}: {info['bytes'] / 1e6:.1f} MB, {info['mean_bytes_per_line']} B/line, "
                  f"ko {info['mean_korean_words']} words, en {info['mean_english_words']} words, "
                  f"{info['mean_incidents']} incidents ({info['generation_s']} s, not timed)", flush=True)
        out["compute_floor"] = compute_floor(inputs[args.small])
        print(f"compute floor (no database): {out['compute_floor']}", flush=True)
        for db in dbs:
            runs: dict[str, Any] = {}
            small, proto = [], []
            for i in range(args.repeats):
                r = _run(db, inputs[args.small], args.batch_size)
                small.append(r)
                print(f"[{db}] {args.small} run {i + 1}: {r['testimonies_per_s']}/s wall, "
                      f"{r['testimonies_per_s_cpu_bound']}/s CPU-bound, {r['input_mb_per_s']} MB/s, "
                      f"peak {r.get('peak_rss_mb_vmhwm')} MB (VmHWM), {r['peak_rss_mb_ru_maxrss']} MB "
                      f"(ru_maxrss)", flush=True)
                if args.prototypes:
                    r = _run(db, inputs[args.small], args.batch_size, variant="fast-custody")
                    proto.append(r)
                    print(f"[{db}] {args.small} prototype run {i + 1}: {r['testimonies_per_s']}/s "
                          f"wall, {r['testimonies_per_s_cpu_bound']}/s CPU-bound", flush=True)
            runs["small"] = {
                "count": args.small,
                "runs": small,
                "median_testimonies_per_s": common.median(r["testimonies_per_s"] for r in small),
                "median_testimonies_per_s_cpu_bound": common.median(
                    r["testimonies_per_s_cpu_bound"] for r in small),
                "median_input_mb_per_s": common.median(r["input_mb_per_s"] for r in small),
                "median_peak_rss_mb": common.median(r["peak_rss_mb_ru_maxrss"] for r in small),
                "median_peak_rss_mb_vmhwm": common.median(
                    r.get("peak_rss_mb_vmhwm", float("nan")) for r in small),
            }
            if proto:
                ratios_wall = [p["testimonies_per_s"] / b["testimonies_per_s"]
                               for p, b in zip(proto, small, strict=True)]
                ratios_cpu = [p["testimonies_per_s_cpu_bound"] / b["testimonies_per_s_cpu_bound"]
                              for p, b in zip(proto, small, strict=True)]
                runs["small_prototype"] = {
                    "count": args.small,
                    "variant": "fast-custody (bench/prototypes.py FastCustodyLog)",
                    "runs": proto,
                    "median_testimonies_per_s": common.median(r["testimonies_per_s"] for r in proto),
                    "median_testimonies_per_s_cpu_bound": common.median(
                        r["testimonies_per_s_cpu_bound"] for r in proto),
                    "median_speedup_wall": round(common.median(ratios_wall), 2),
                    "median_speedup_cpu": round(common.median(ratios_cpu), 2),
                }
                print(f"[{db}] prototype speed-up: {runs['small_prototype']['median_speedup_wall']}x "
                      f"wall, {runs['small_prototype']['median_speedup_cpu']}x CPU", flush=True)
            if not args.skip_large:
                r = _run(db, inputs[args.count], args.batch_size)
                runs["large"] = r
                print(f"[{db}] {args.count}: {r['testimonies_per_s']}/s wall, "
                      f"{r['testimonies_per_s_cpu_bound']}/s CPU-bound, {r['input_mb_per_s']} MB/s, "
                      f"peak {r.get('peak_rss_mb_vmhwm')} MB (VmHWM), rss growth "
                      f"{r['rss_sampled'].get('growth_mb')} MB", flush=True)
            if not args.skip_profile:
                common.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
                for variant in ["baseline"] + (["fast-custody"] if args.prototypes else []):
                    suffix = "" if variant == "baseline" else f"-{variant}"
                    prof_path = common.RESULTS_DIR / f"import-{db}-{args.profile_count}{suffix}.prof"
                    r = _run(db, inputs[args.profile_count], args.batch_size, profile=prof_path,
                             variant=variant)
                    runs["profile" + suffix.replace("-", "_")] = r
                    print(f"[{db}] profile {variant} ({args.profile_count}, under cProfile: "
                          f"{r['testimonies_per_s']}/s):", flush=True)
                    for label, g in r["profile"]["groups"].items():
                        print(f"    {label:50s} {g['s']:8.2f} s {g['share'] * 100:5.1f} %", flush=True)
            out["runs"][db] = runs
        name = (f"import-{args.count}" if not args.skip_large else f"import-small-{args.small}")
        name += "-" + "-".join(dbs)
        print("wrote", common.save_result(name, out))
    finally:
        common.remove(scratch)


if __name__ == "__main__":
    main()
