"""benchmarks/gpu_course.py, the course's default path on a GPU: checked on the CPU (dry run)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "gpu_course.py"


def _module():
    spec = importlib.util.spec_from_file_location("gpu_course", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_refuses_without_cuda(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "r")],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2 and "no CUDA device" in done.stdout
    assert not list(tmp_path.iterdir())


def test_compare_sets_each_number_beside_the_cpu_one():
    rows = _module().compare({"miou": 0.7, "seed": 0, "seconds": 3.0, "name": "x"},
                             {"miou": 0.65, "seconds": 9.0})  # fmt: skip
    assert list(rows) == ["miou"]
    assert abs(rows["miou"]["difference"] - 0.05) < 1e-12 and rows["miou"]["cpu"] == 0.65


def test_dry_run_reports_status_times_and_numbers(tmp_path):
    cpu = tmp_path / "cpu"
    cpu.mkdir()
    (cpu / "00_semantic_segmentation.json").write_text(json.dumps({"seconds": 12.5}))
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--dry-run", "--notebooks", "00", "--out", str(out),
         "--cpu-results", str(cpu)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    record = json.loads(out.with_suffix(".json").read_text())
    ((stem, r),) = record["notebooks"].items()
    assert stem == "00_semantic_segmentation" and r["status"] == "passed"
    assert r["cpu_seconds"] == 12.5 and r["seconds"] > 0 and r["comparison"]
    assert all(row["cpu"] is None for row in r["comparison"].values())
    text = out.with_suffix(".md").read_text()
    assert text.startswith("**Dry run on the CPU: this report holds no GPU figures.**")
