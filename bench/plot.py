"""Draws ``bench/results/performance.png`` from the benchmarks' last results (issue 7's deliverable).

    .venv/bin/python -m bench.plot [--out PATH]

Left: throughput against backlog size (``bench/results/backlog.json``, one point per size), measured and
the Jira-bound ideal (requests x latency / concurrency), with the ratio of the two at each point.
Right: the mail-to-issue latency of the event-driven mode (``bench/results/latency.json``), one dot per
probe mail, its median, the 10 s target, and the median breakdown (trigger saw the mail, run queued, run
started, write_to_jira done). A panel whose results file is missing says so instead of inventing figures.
``bench/backlog.py`` and ``bench/latency.py`` call :func:`draw` after saving their results.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
OUT = RESULTS / "performance.png"
LATENCY_TARGET_S = 10.0
RATIO_TARGET = 2.0
BREAKDOWN = (("idle_notice_s", "trigger saw it"), ("run_queued_s", "run queued"),
             ("run_started_s", "run started"), ("write_done_s", "write_to_jira done"))


def _read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


# -- pure: what each panel shows -------------------------------------------------------------------------
def throughput_series(backlog: dict[str, Any]) -> dict[str, list[float]]:
    """Per backlog size (ascending): measured mails/s, ideal mails/s, ratio measured/ideal."""
    rows = sorted(backlog.get("results") or [], key=lambda r: r["size"])
    return {
        "size": [r["size"] for r in rows],
        "measured": [r["size"] / r["wall_s"] for r in rows],
        "ideal": [r["size"] / r["ideal_s"] if r.get("ideal_s") else 0.0 for r in rows],
        "ratio": [r.get("ratio") or 0.0 for r in rows],
    }


def latency_series(latency: dict[str, Any]) -> dict[str, Any]:
    """The probes' latencies (s), their median, and the median of each breakdown step."""
    values = [p["latency_s"] for p in latency.get("probes") or [] if p.get("latency_s") is not None]
    steps = latency.get("breakdown_medians") or {}
    return {"latencies": values, "median": latency.get("median_s"),
            "steps": [(label, steps[key]) for key, label in BREAKDOWN if key in steps]}


def _machine_line(data: dict[str, Any] | None) -> str:
    if not data:
        return ""
    m = data.get("machine") or {}
    load = m.get("load_at_start") or []
    return (f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores, Airflow {m.get('airflow', '?')}; "
            f"load {load[0] if load else '?'} at start; {data.get('measured_at', '')}")


# -- shell: drawing --------------------------------------------------------------------------------------
def draw(out: Path = OUT, results: Path = RESULTS) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    backlog = _read(results / "backlog.json")
    latency = _read(results / "latency.json")
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2))

    if backlog and backlog.get("results"):
        series = throughput_series(backlog)
        left.plot(series["size"], series["measured"], "o-", color="tab:blue", label="measured (Airflow included)")
        left.plot(series["size"], series["ideal"], "s--", color="tab:gray",
                  label=f"ideal: Jira requests x {backlog.get('latency_ms')} ms / {backlog.get('concurrency')}")
        left.plot(series["size"], [i / RATIO_TARGET for i in series["ideal"]], ":", color="tab:green",
                  label=f"target: ideal / {RATIO_TARGET:g}")
        for size, measured, ratio in zip(series["size"], series["measured"], series["ratio"], strict=True):
            left.annotate(f"{measured:.1f}/s\nratio {ratio:.2f}", (size, measured), textcoords="offset points",
                          xytext=(0, -30), ha="center", fontsize=8)
        left.set_xscale("log")
        left.set_xticks(series["size"], [str(s) for s in series["size"]])
        left.set_ylim(0, max(series["ideal"] + series["measured"]) * 1.3)
        left.legend(fontsize=8, loc="upper left")
    else:
        left.text(0.5, 0.5, "no backlog results yet\n(python -m bench.backlog)", ha="center", va="center",
                  transform=left.transAxes)
    left.set_xlabel("backlog size (mails in the inbox)")
    left.set_ylabel("mails per second until drained")
    left.set_title("Backlog drain: throughput against backlog size", fontsize=10)
    left.grid(True, alpha=0.3)

    if latency and latency_series(latency)["latencies"]:
        series = latency_series(latency)
        values = series["latencies"]
        # each probe (a box plot and the dots), and below it the median broken down into its steps
        right.boxplot([values], positions=[1], orientation="horizontal", widths=0.35, showfliers=False)
        jitter = [1 + 0.12 * ((k * 7) % 5 - 2) / 2 for k in range(len(values))]
        right.scatter(values, jitter, s=18, color="tab:blue", alpha=0.7, zorder=3,
                      label=f"{len(values)} probe mails, median {series['median']:.1f} s")
        previous = 0.0
        for n, (label, at) in enumerate(series["steps"]):
            right.barh(0, at - previous, left=previous, height=0.35, color=f"C{n + 1}", alpha=0.8,
                       label=f"until {label}: {at:.1f} s (median)")
            previous = at
        right.axvline(LATENCY_TARGET_S, color="tab:red", linestyle="--", label=f"target {LATENCY_TARGET_S:g} s")
        right.set_yticks([0, 1], ["median,\nby step", "each\nprobe"])
        right.set_ylim(-0.6, 2.2)
        right.set_xlim(0, max(LATENCY_TARGET_S, max(values)) * 1.08)
        right.legend(fontsize=8, loc="upper right")
    right.set_xlabel("seconds from the mail's arrival to its Jira issue")
    right.set_title("Event-driven mode (IMAP IDLE trigger, airflow standalone): latency", fontsize=10)
    right.grid(True, alpha=0.3)

    notes = [line for line in (_machine_line(backlog), _machine_line(latency)) if line]
    fig.text(0.01, 0.01, " | ".join(dict.fromkeys(notes)), fontsize=7, color="dimgray")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    print(f"drawn: {draw(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
