"""The plot of issue 18: filter cost against N, for us (each backend) and the peer, as a PNG.

Run by ``benchmarks/run.py --scaling --plot [PATH]`` in benchmarks/.peer-venv (matplotlib is no dependency
of the project), or by hand there once it exists:

    benchmarks/.peer-venv/bin/python benchmarks/plot.py --results benchmarks/results/results.jsonl \
        --out docs/filter-scaling.png

Reads the results file's ``summary`` lines of ``--scaling`` runs: for each backend the latest run, our
filter by externalId at each N; the peer's from the latest run that measured it (it keeps its members in
memory, whichever backend ours used), so that each line comes from one run. Two panels, N on a log scale: server CPU per request
(ms, with the hello-world of each run dashed), and the same as a ratio to the hello-world of the same run.
Imports nothing of wiggledesk-scim, nor of the other benchmark modules.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

FILTER = "filter_external_id"
PEER = "peer_" + FILTER


def latest_scaling(results: Path) -> tuple[dict[str, dict], dict[int, dict], dict[str, str]]:
    """By backend, the latest scaling run's {"hello": summary, N: summary}; the peer's summaries by N, of
    the latest run that has them; the run ids used, by what they were used for."""
    runs: dict[str, dict[str, dict]] = {}            # backend -> run id -> {"hello" | N: summary}
    peer_by_run: dict[str, dict[int, dict]] = {}
    with open(results, encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if record.get("type") != "summary" or record.get("mode") != "scaling" or record.get("concurrency") != 1:
                continue
            run_id, scenario = record["run_id"], record["scenario"]
            if scenario == PEER:
                peer_by_run.setdefault(run_id, {})[record["members"]] = record
            elif scenario in (FILTER, "hello"):
                key = "hello" if scenario == "hello" else record["members"]
                runs.setdefault(record["backend"], {}).setdefault(run_id, {})[key] = record
    ours = {backend: by_run[max(by_run)] for backend, by_run in runs.items()}
    used = {backend: max(by_run) for backend, by_run in runs.items()}
    if not peer_by_run:
        return ours, {}, used
    used["peer"] = max(peer_by_run)
    return ours, peer_by_run[used["peer"]], used


def draw(results: Path, out: Path, peer_label: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    ours, peer, used = latest_scaling(results)
    if not ours:
        raise SystemExit(f"plot: no --scaling summaries at concurrency 1 in {results}")
    figure, (cpu, ratio) = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True)
    series = [(f"wiggledesk-scim, {backend}", {n: s for n, s in run.items() if n != "hello"}, marker)
              for (backend, run), marker in zip(sorted(ours.items()), "os")]
    if peer:
        series.append((f"{peer_label} (in memory)", peer, "^"))
    for label, points, marker in series:
        sizes = sorted(points)
        cpu.plot(sizes, [points[n]["cpu_ms"] for n in sizes], marker=marker, label=label)
        ratio.plot(sizes, [points[n]["cpu_ratio"] for n in sizes], marker=marker, label=label)
    for backend, run in sorted(ours.items()):
        if "hello" in run:
            cpu.axhline(run["hello"]["cpu_ms"], linestyle="--", linewidth=1, color="grey")
            cpu.annotate(f"hello-world ({backend} run)", (min(n for n in run if n != "hello"), run["hello"]["cpu_ms"]),
                         textcoords="offset points", xytext=(0, 4), fontsize=8, color="grey")
    cpu.set(title="Filter by externalId: server CPU per request (c = 1)", xlabel="N (members of the organisation)",
            ylabel="ms of server CPU per request", xscale="log")
    cpu.set_ylim(bottom=0)
    ratio.set(title="The same, as a ratio to the hello-world of the same run", xlabel="N (members of the organisation)",
              ylabel="x hello-world", xscale="log")
    ratio.set_ylim(bottom=0)
    measured = sorted({n for _, points, _ in series for n in points})
    for axes in (cpu, ratio):
        axes.set_xticks(measured, [f"{n:,}" for n in measured])
        axes.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        axes.grid(True, which="major", alpha=0.3)
        axes.legend(fontsize=8)
    figure.suptitle("Runs " + ", ".join(f"{backend} {run_id}" for backend, run_id in sorted(used.items()))
                    + " (benchmarks/run.py --scaling --peer); medians of the per-run figures", fontsize=9)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description="Draw filter cost against N from run.py --scaling's results.")
    parser.add_argument("--results", type=Path, required=True, help="run.py's results file (JSON lines)")
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    parser.add_argument("--peer", default="scim2-server", help="the peer's name in the legend")
    args = parser.parse_args()
    draw(args.results, args.out, args.peer)


if __name__ == "__main__":
    main()
