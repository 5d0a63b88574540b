"""The course's default path on a CUDA GPU, side by side with the CPU run.

    python benchmarks/gpu_course.py --out benchmarks/results/gpu_course    # on a CUDA machine
    python benchmarks/gpu_course.py --dry-run --notebooks 00              # the script, on a CPU

Executes the notebooks in order, in a fresh folder, with papermill and their own defaults (the
built-in scenes; ``DEVICE = "auto"`` picks CUDA, where ``engine.fit`` turns on float16 autocast
and channels_last by itself). For each notebook it records whether every cell ran (a failed
self-check is an ``AssertionError`` in its cell: the report names the cell and the check), its
wall time, and its headline numbers (``results/NN.json``) next to those of a CPU run
(``--cpu-results``, default ``notebooks/results`` of ``make course``) and their difference.
It writes ``OUT.json`` and ``OUT.md`` with the device's name. A failing notebook does not stop
the run: the next notebook obtains what it needs (``fcnlib.course.obtain``).

Without CUDA the script refuses to run unless ``--dry-run`` is given; a dry run's report says on
its first line that it holds no GPU figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def run_notebook(notebook: Path, folder: Path, parameters: dict, timeout: int) -> dict:
    """Execute one notebook in ``folder``; what happened, its time and its results."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    t0 = time.perf_counter()
    status, failure = "passed", None
    try:
        papermill.execute_notebook(
            str(notebook), str(folder / f"executed_{notebook.name}"), parameters=parameters,
            cwd=str(folder), kernel_name="python3", progress_bar=False, execution_timeout=timeout,
        )  # fmt: skip
    except PapermillExecutionError as e:
        status = "self-check failed" if e.ename == "AssertionError" else "error"
        failure = f"cell {e.exec_count}: {e.ename}: {e.evalue}".strip()
    seconds = time.perf_counter() - t0
    path = folder / "results" / f"{notebook.stem}.json"
    numbers = json.loads(path.read_text()) if path.is_file() else {}
    return {"status": status, "failure": failure, "seconds": round(seconds, 1), "numbers": numbers}


def compare(gpu: dict, cpu: dict) -> dict:
    """Headline numbers of both runs and their difference, for the keys both have."""
    rows = {}
    for key, value in gpu.items():
        if key in ("seed", "seconds") or not isinstance(value, (int, float)):
            continue
        other = cpu.get(key)
        diff = value - other if isinstance(other, (int, float)) else None
        rows[key] = {"gpu": value, "cpu": other, "difference": diff}
    return rows


def report(record: dict) -> str:
    lines = []
    if record["dry_run"]:
        lines.append("**Dry run on the CPU: this report holds no GPU figures.**\n")
    lines += [
        f"# The course on {record['device']}",
        "",
        f"{record['date']}; torch {record['torch']}; CPU figures from `{record['cpu_results']}`.",
        "",
        "| notebook | status | seconds (GPU) | seconds (CPU) |",
        "|---|---|---|---|",
    ]
    for stem, r in record["notebooks"].items():
        cpu_s = r["cpu_seconds"]
        cpu_text = f"{cpu_s:.0f}" if cpu_s is not None else "-"
        status = r["status"] + (f" ({r['failure']})" if r["failure"] else "")
        lines.append(f"| {stem} | {status} | {r['seconds']:.0f} | {cpu_text} |")
    lines += ["", "| notebook | number | GPU | CPU | GPU - CPU |", "|---|---|---|---|---|"]
    for stem, r in record["notebooks"].items():
        for key, row in r["comparison"].items():
            cpu = "-" if row["cpu"] is None else f"{row['cpu']:.3f}"
            diff = "-" if row["difference"] is None else f"{row['difference']:+.3f}"
            lines.append(f"| {stem} | {key} | {row['gpu']:.3f} | {cpu} | {diff} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "gpu_course"))
    parser.add_argument("--cpu-results", default=str(ROOT / "notebooks" / "results"))
    parser.add_argument("--notebooks", nargs="*", help="two-digit numbers (default: all)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument("--dry-run", action="store_true", help="allow a run without CUDA")
    args = parser.parse_args(argv)

    import torch

    if not torch.cuda.is_available() and not args.dry_run:
        print("no CUDA device: run this on a GPU machine, or pass --dry-run to check the script")
        return 2
    chosen = [p for p in NOTEBOOKS if not args.notebooks or p.stem[:2] in args.notebooks]
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU (dry run)"
    record = {
        "device": device, "dry_run": not torch.cuda.is_available(), "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"), "cpu_results": args.cpu_results, "notebooks": {},
    }  # fmt: skip
    os.environ.pop("MPLBACKEND", None)
    with tempfile.TemporaryDirectory(prefix="gpu_course_") as tmp:
        for notebook in chosen:
            print(f"== {notebook.name}", flush=True)
            r = run_notebook(notebook, Path(tmp), {}, args.timeout)
            cpu_path = Path(args.cpu_results) / f"{notebook.stem}.json"
            cpu = json.loads(cpu_path.read_text()) if cpu_path.is_file() else {}
            r["cpu_seconds"] = cpu.get("seconds")
            r["comparison"] = compare(r.pop("numbers"), cpu)
            record["notebooks"][notebook.stem] = r
            print(f"   {r['status']} in {r['seconds']:.0f} s", r["failure"] or "", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    out.with_suffix(".md").write_text(report(record))
    print(f"wrote {out.with_suffix('.md')} and {out.with_suffix('.json')}")
    return 0 if all(r["status"] == "passed" for r in record["notebooks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
