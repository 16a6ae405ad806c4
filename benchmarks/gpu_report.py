"""Turn what `bash benchmarks/gpu_check.sh` left (its folder, unpacked from gpu.tgz) into the
ResNet section of BENCHMARKS.md: the card, date and command, the 93% check, each kind's peak
memory and seconds per epoch, and the headline sweep's wall time and paired verdicts.

    python benchmarks/gpu_report.py DIR                           # print the section
    python benchmarks/gpu_report.py DIR --benchmarks BENCHMARKS.md  # and put it in the file

gpu_check.sh runs the second form at its end and returns the file as $OUT/BENCHMARKS.md. What a
step did not leave is written "not measured", never estimated.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from datetime import datetime
from pathlib import Path

START, END = "<!-- gpu-report:start -->", "<!-- gpu-report:end -->"
HEADLINE = "resnet: the headline sweep"
TARGET_ACC, TARGET_MINUTES = 0.93, 20.0
VERDICT_METRICS = ("ensemble_acc", "nll", "ece")  # paired.csv; shift_paired.csv gives the mean
NONE = "not measured"


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def meta(folder: Path) -> dict[str, str]:
    """meta.txt's key=value lines (gpu_check.sh writes the card, date, commit and flags)."""
    path = folder / "meta.txt"
    lines = path.read_text().splitlines() if path.is_file() else []
    return dict(line.split("=", 1) for line in lines if "=" in line)


def step_minutes(log: str, title: str) -> float | None:
    """Wall minutes of a gpu_check step: from its '== title (HH:MM:SS)' line to the next
    '-- exit N (HH:MM:SS)'; None when it did not end (cut short) or is not in the log."""
    m = re.search(
        re.escape(title)
        + r"[^\n]*\((\d\d:\d\d:\d\d)\)\n(?:.*\n)*?-- exit (\d+) \((\d\d:\d\d:\d\d)\)",
        log,
    )
    if not m:
        return None
    start, end = (datetime.strptime(t, "%H:%M:%S") for t in (m.group(1), m.group(3)))
    seconds = (end - start).total_seconds() % 86400  # past midnight
    return seconds / 60


def fmt(value: str | None, digits: int = 4) -> str:
    try:
        return f"{float(value):.{digits}g}" if value not in (None, "") else NONE
    except ValueError:
        return NONE


def section(folder: Path) -> str:
    """The markdown section for one gpu_check folder."""
    info, log_path = meta(folder), folder / "log.txt"
    log = log_path.read_text() if log_path.is_file() else ""
    card = info.get("card") or "no GPU (nvidia-smi listed none)"
    out = [START, f"## ResNet on one GPU: {card} ({info.get('date', NONE)})", ""]
    out += [
        f"Command: `{info.get('command', 'bash benchmarks/gpu_check.sh')}` at commit "
        f"`{info.get('commit', NONE)}`; recipe `{info.get('resnet', NONE)}`, data "
        f"`{info.get('data', NONE)}`.",
        "",
    ]
    synthetic = "synthetic" in info.get("data", "synthetic")
    single = [r for r in read_csv(folder / "resnet_single" / "results.csv") if r.get("model")]
    acc = single[0].get("ensemble_acc") if single else None
    if synthetic:
        check = "not made (synthetic data: CIFAR-10 was not on the machine)"
    elif acc in (None, ""):
        check = NONE
    else:
        check = "met" if float(acc) >= TARGET_ACC else "**not met**"
    out += [f"- One model, the recipe's defaults: test accuracy {fmt(acc)}; the 93% check: "
            f"{check}.", ""]  # fmt: skip
    kinds = read_csv(folder / "resnet_kinds" / "kinds.csv")
    out += ["Each kind trained alone (peak CUDA memory, data included; seconds per epoch):", ""]
    out += [
        "| model | members | peak MiB | s / epoch | accuracy | NLL |",
        "|---|---|---|---|---|---|",
    ]
    for r in kinds:
        out.append(
            f"| {r['model']} | {r['members']} | {fmt(r['peak_mib'])} | "
            f"{fmt(r['epoch_seconds'])} | {fmt(r['ensemble_acc'])} | {fmt(r['nll'])} |"
        )
    if not kinds:
        out.append(f"| {NONE} | | | | | |")
    peak = {r["model"]: r.get("peak_mib") for r in kinds}
    if all(peak.get(k) not in (None, "") for k in ("batchensemble", "ensemble", "single")):
        be, ens, one = (float(peak[k]) for k in ("batchensemble", "ensemble", "single"))
        out += ["", f"BatchEnsemble's peak memory: {be / one:.2f}x one model's, {be / ens:.2f}x "
                "the ensemble's."]  # fmt: skip
    minutes = step_minutes(log, HEADLINE)
    took = NONE if minutes is None else f"{minutes:.1f} min"
    if minutes is not None:
        took += " (within 20 min)" if minutes <= TARGET_MINUTES else " (**over 20 min**)"
    seeds = info.get("seeds", NONE)
    out += ["", f"Headline sweep (seeds {seeds}, shift all, paired by seed): {took}.", ""]
    out += ["| metric | baseline | BatchEnsemble − baseline | 95% CI | verdict |",
            "|---|---|---|---|---|"]  # fmt: skip
    sweep = folder / "resnet_sweep"
    rows = [r for r in read_csv(sweep / "paired.csv") if r.get("metric") in VERDICT_METRICS]
    rows += [
        {**r, "metric": f"acc, corruption mean, severity {r['severity']}"}
        for r in read_csv(sweep / "shift_paired.csv")
        if r.get("corruption") == "mean" and r.get("metric") == "acc"
    ]
    for r in rows:
        ci = f"[{fmt(r.get('ci_low'))}, {fmt(r.get('ci_high'))}]" if r.get("ci_low") else "-"
        out.append(
            f"| {r['metric']} | {r.get('baseline')} | {fmt(r.get('mean_diff'))} | {ci} | "
            f"{r.get('verdict') or NONE} |"
        )
    if not rows:
        out.append(f"| {NONE} | | | | |")
    return "\n".join([*out, END]) + "\n"


def put(text: str, section_text: str) -> str:
    """The file's text with its gpu-report section replaced (added at the end when missing)."""
    if START in text and END in text:
        head, rest = text.split(START, 1)
        return head + section_text.rstrip("\n") + rest.split(END, 1)[1]
    return text.rstrip("\n") + "\n\n" + section_text


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--benchmarks", type=Path, help="put the section in this file")
    a = ap.parse_args(argv)
    if not a.folder.is_dir():
        print(f"gpu_report: no folder {a.folder}", file=sys.stderr)
        return 2
    text = section(a.folder)
    print(text)
    if a.benchmarks:
        a.benchmarks.write_text(put(a.benchmarks.read_text(), text))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
