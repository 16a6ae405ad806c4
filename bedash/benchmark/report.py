"""The benchmark's report: the table it prints and the files it writes."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from bedash.benchmark.plot import plot_scaling


def format_report(report: dict[str, Any]) -> str:
    """The table printed at the end: one row per variant, then inference, memory, compile."""
    lines = [
        f"{'variant':<20}{'E':>3}{'ms/step':>10}{'member-samples/s':>18}{'s/epoch(50k)':>14}"
        f"{'floor ms':>10}{'of floor':>10}{'x seed':>8}"
    ]
    for r in report.get("train", []):
        f = "-" if r["floor_ms"] is None else f"{r['floor_ms']:.2f}"
        of = "-" if r["of_floor"] is None else f"{r['of_floor']:.2f}"
        xs = "-" if r["x_seed"] is None else f"{r['x_seed']:.2f}"
        lines.append(
            f"{r['variant']:<20}{r['members']:>3}{r['step_ms']:>10.2f}"
            f"{r['member_samples_per_s']:>18,.0f}{r['epoch_seconds_50k']:>14.1f}"
            f"{f:>10}{of:>10}{xs:>8}"
        )
    lines.append("")
    for r in report.get("inference", []):
        lines.append(
            f"inference {r['variant']:<18} {r['test_images']} images: {r['seconds']:.3f} s"
        )
    if "memory" in report:
        lines.append(f"memory: {report['memory']}")
    for r in report.get("compile", []):
        lines.append(
            f"compile {r['mode']:<16} {r['step_ms']:.3f} ms/step, epoch "
            f"{r['epoch_seconds']:.2f} s (compile {r['compile_seconds']:.1f} s)"
        )
    return "\n".join(lines)


def write_outputs(report: dict[str, Any], out: Path) -> None:
    """bench.json, train.csv, inference.csv, scaling.csv and the scaling figure in `out` (the
    names are a contract: BENCHMARKS.md and the recorded results use them)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(report, indent=2))
    for key in ("train", "inference", "scaling"):
        rows = report.get(key)
        if rows:
            with open(out / f"{key}.csv", "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows(rows)
    if report.get("scaling"):
        plot_scaling(report["scaling"], out)
