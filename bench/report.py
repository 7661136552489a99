"""Render bench/results/*.json as the markdown tables used in bench/README.md.

    .venv/bin/python bench/report.py > /tmp/tables.md
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def _load(pattern: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(RESULTS.glob(pattern))]


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float | int):
        return f"{value:,.{digits}f}"
    return str(value)


def import_tables() -> str:
    out = []
    rows = []
    profiles = []
    for doc in _load("import-*.json"):
        for db, runs in doc["runs"].items():
            small = runs["small"]
            large = runs.get("large")
            proto = runs.get("small_prototype")
            rows.append((db, small, large, proto, doc))
            for key in ("profile", "profile_fast_custody"):
                if key in runs:
                    profiles.append((db, key, runs[key]))
    if not rows:
        return ""
    out.append("| | " + " | ".join(db for db, *_ in rows) + " |")
    out.append("|---|" + "---|" * len(rows))

    def line(label: str, fn: Any) -> None:
        out.append(f"| {label} | " + " | ".join(fn(*r) for r in rows) + " |")

    line("1,000 × 3: median testimonies/s (wall)",
         lambda db, s, lg, p, d: f"{_fmt(s['median_testimonies_per_s'], 1)} "
         f"({', '.join(_fmt(r['testimonies_per_s'], 1) for r in s['runs'])})")
    line("1,000 × 3: median testimonies/s (CPU-bound)",
         lambda db, s, lg, p, d: _fmt(s.get("median_testimonies_per_s_cpu_bound"), 1))
    line("1,000 × 3: median MB/s of input (wall)",
         lambda db, s, lg, p, d: _fmt(s["median_input_mb_per_s"], 2))
    line("10,000: testimonies/s (wall / CPU-bound)",
         lambda db, s, lg, p, d: f"{_fmt(lg['testimonies_per_s'], 1)} / "
         f"{_fmt(lg.get('testimonies_per_s_cpu_bound'), 1)}" if lg else "–")
    line("10,000: MB/s of input (wall)",
         lambda db, s, lg, p, d: _fmt(lg["input_mb_per_s"], 2) if lg else "–")
    line("10,000: wall s (client CPU s + server CPU s)",
         lambda db, s, lg, p, d: f"{_fmt(lg['seconds'], 0)} ({_fmt(lg['cpu']['client_cpu_s'], 0)}"
         f" + {_fmt(lg['cpu']['server_cpu_s'], 0)})" if lg else "–")
    line("10,000: custody events / testimony",
         lambda db, s, lg, p, d: _fmt(lg["custody_events_per_testimony"], 2) if lg else "–")
    line("10,000: database size (MB)",
         lambda db, s, lg, p, d: _fmt(lg["db_bytes"] / 1e6, 0) if lg else "–")
    line("peak RSS during import, VmHWM (MB)",
         lambda db, s, lg, p, d: _fmt((lg or {}).get("peak_rss_mb_vmhwm")
                                      or s.get("median_peak_rss_mb_vmhwm"), 1))
    line("ru_maxrss of the worker (MB; see note)",
         lambda db, s, lg, p, d: _fmt((lg or s["runs"][0])["peak_rss_mb_ru_maxrss"], 1))
    line("RSS sampled every 0.5 s: first → last quarter median (MB)",
         lambda db, s, lg, p, d: (f"{lg['rss_sampled']['first_quarter_median_mb']} → "
                                  f"{lg['rss_sampled']['last_quarter_median_mb']} "
                                  f"(max {lg['rss_sampled']['max_mb']})") if lg else "–")
    line("RSS by line (MB)",
         lambda db, s, lg, p, d: ", ".join(f"{n}: {mb}" for n, mb in lg["rss_by_line_mb"][::8])
         if lg else "–")
    line("prototype FastCustodyLog, 1,000 × 3: median /s (wall)",
         lambda db, s, lg, p, d: _fmt(p["median_testimonies_per_s"], 1) if p else "–")
    line("prototype speed-up (median of paired runs, wall / CPU)",
         lambda db, s, lg, p, d: f"{p['median_speedup_wall']}× / {p['median_speedup_cpu']}×"
         if p else "–")
    floor = rows[0][4].get("compute_floor")
    if floor:
        out.append("")
        out.append(
            f"Compute floor (no database; parse + validate + canonical JSON + SHA-256 + key "
            f"wrapping + AES-GCM, one core): {floor['cpu_ms_per_testimony']} ms per testimony "
            f"(parse/validate {floor['parse_validate_ms']} ms, seal/hash "
            f"{floor['seal_and_hash_ms']} ms) → ceiling "
            f"{_fmt(floor['ceiling_testimonies_per_s_one_core'])} testimonies/s."
        )
    if profiles:
        out.append("")
        labels = list(profiles[0][2]["profile"]["groups"])
        out.append("| share of import time (cProfile, 1,000) | "
                   + " | ".join(f"{db} {'baseline' if k == 'profile' else 'prototype'}"
                                for db, k, _ in profiles) + " |")
        out.append("|---|" + "---|" * len(profiles))
        for label in labels:
            cells = []
            for _, _, r in profiles:
                g = r["profile"]["groups"].get(label)
                cells.append(f"{g['share'] * 100:.1f} %" if g else "–")
            out.append(f"| {label.strip()} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def custody_tables() -> str:
    docs = [d for d in _load("custody-*.json") if "appends" in d or "verify" in d or "proofs" in d]
    if not docs:
        return ""
    docs.sort(key=lambda d: (d["events"], d["db"], "appends" not in d))
    out = ["| | " + " | ".join(f"{d['db']} {d['events']:,}"
                                + ("" if "appends" in d else " (re-run: verify, proofs)")
                                for d in docs) + " |"]
    out.append("|---|" + "---|" * len(docs))

    def line(label: str, fn: Any) -> None:
        cells = []
        for d in docs:
            try:
                cells.append(fn(d))
            except (KeyError, TypeError):
                cells.append("–")
        out.append(f"| {label} | " + " | ".join(cells) + " |")

    line("log filled by", lambda d: d["build"]["method"].split(" (")[0] if "appends" in d else "bulk")
    line("filling rate, events/s (wall / CPU-bound)",
         lambda d: f"{_fmt(d['build']['events_per_s'])} / {_fmt(d['build']['cpu']['per_s_cpu_bound'])}")
    for mode, key in (("1,000/txn", None), ("1/txn", "single_txn")):
        for measure in ("wall", "cpu_bound"):
            m_label = "wall" if measure == "wall" else "CPU-bound"
            line(f"append {mode}, {m_label}: tree / bare events/s",
                 lambda d, k=key, m=measure: (
                     f"{_fmt((d['appends'][k] if k else d['appends'])[m]['median_tree_events_per_s'])} / "
                     f"{_fmt((d['appends'][k] if k else d['appends'])[m]['median_bare_events_per_s'])}"))
            line(f"append {mode}, {m_label}: tree overhead vs bare",
                 lambda d, k=key, m=measure: (
                     f"**{(d['appends'][k] if k else d['appends'])[m]['tree_overhead_pct']} %**"))
    for measure in ("wall", "cpu_bound"):
        m_label = "wall" if measure == "wall" else "CPU-bound"
        line(f"prototype append 1,000/txn, {m_label}: events/s (× current)",
             lambda d, m=measure: f"{_fmt(d['appends'][m]['median_fast_events_per_s'])} "
             f"({d['appends'][m]['median_fast_over_tree']}×)")
        line(f"prototype tree overhead vs its bare twin, {m_label}",
             lambda d, m=measure: f"{d['appends'][m]['fast_tree_overhead_vs_fastbare_pct']} %")
    line("verify_log: median wall s (runs)",
         lambda d: f"**{d['verify']['median_s']}** ({', '.join(str(x) for x in d['verify']['runs_s'])})")
    line("verify_log: median CPU s (client + server)", lambda d: f"{d['verify']['median_cpu_s']}")
    line("verify_log: RSS growth (MB)", lambda d: f"{d['verify']['peak_rss_growth_mb']}")
    line("prototype verify_log_fast: wall s / CPU s (CPU ×)",
         lambda d: f"{d['verify']['prototype_verify_log_fast']['median_s']} / "
         f"{d['verify']['prototype_verify_log_fast']['median_cpu_s']} "
         f"({d['verify']['prototype_verify_log_fast']['speedup_cpu']}×)")
    line("prototype verify, splice: wall s / CPU s (CPU ×)",
         lambda d: f"{d['verify']['prototype_verify_log_fast_splice']['median_s']} / "
         f"{d['verify']['prototype_verify_log_fast_splice']['median_cpu_s']} "
         f"({d['verify']['prototype_verify_log_fast_splice']['speedup_cpu']}×)")
    def superseded_prefetch(d: dict[str, Any]) -> bool:
        # The first SQLite 100k run used a row-value IN, which SQLite 3.40 plans as a full
        # scan of custody_tree_nodes; prototypes.py was fixed (OR of key equalities) and the
        # "(re-run)" column measures the fixed version.
        return d["db"] == "sqlite" and d["events"] == 100_000 and "code" not in d

    for key, label in (
        ("service_inclusion", "inclusion via CustodyService"),
        ("service_consistency", "consistency via CustodyService"),
        ("tree_inclusion_plus_root", "inclusion + root, tree functions"),
        ("tree_consistency", "consistency, tree functions"),
        ("prototype_prefetched_inclusion_plus_root_cold",
         "prototype prefetched inclusion + root, 1st pass (compiles)"),
        ("prototype_prefetched_consistency_cold",
         "prototype prefetched consistency, 1st pass (compiles)"),
        ("prototype_prefetched_inclusion_plus_root", "prototype prefetched inclusion + root"),
        ("prototype_prefetched_consistency", "prototype prefetched consistency"),
    ):
        line(f"{label}: p50 / p95 ms",
             lambda d, k=key: "superseded (row-value IN, see note)"
             if k.startswith("prototype") and superseded_prefetch(d)
             else f"{d['proofs'][k]['p50_ms']:.1f} / **{d['proofs'][k]['p95_ms']:.1f}**")
    line("storage: bytes/event, custody tables (events + nodes + checkpoints)",
         lambda d: f"{d['storage']['bytes_per_event_custody_tables']}")
    line("  of which events / tree nodes",
         lambda d: f"{d['storage']['bytes_per_event_events_table']} / "
         f"{d['storage']['bytes_per_event_tree_nodes']}")
    line("storage: whole database bytes/event",
         lambda d: f"{d['storage']['bytes_per_event_whole_database']}")
    line("benchmark wall time (s)", lambda d: _fmt(d.get("wall_s")))
    return "\n".join(out)


def append_profiles() -> str:
    docs = [d for d in _load("custody-*.json") if "append_profile" in d]
    if not docs:
        return ""
    labels = list(docs[0]["append_profile"]["parts"])
    out = ["| share of CustodyLog.append time (cProfile) | "
           + " | ".join(f"{d['db']} {d['log_size']:,}" for d in docs) + " |"]
    out.append("|---|" + "---|" * len(docs))
    for label in labels:
        out.append(f"| {label.strip()} | " + " | ".join(
            f"{d['append_profile']['parts'][label]['share'] * 100:.1f} %" for d in docs) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write("## Import\n\n" + import_tables() + "\n\n## Custody\n\n" + custody_tables()
                     + "\n\n" + append_profiles() + "\n")
