"""The benchmark harness: a smoke run of ``benchmarks/run.py --quick`` and checks of its parts.

These tests never assert a time: the numbers depend on the machine. They check that the
report is written with every section and sane numbers, and that the measuring tools measure
what they claim (against analytic FLOP counts and a known allocation).
"""

import importlib.util
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fcnlib import models

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "benchmarks" / "run.py"
GPU = ROOT / "benchmarks" / "gpu.py"
HEADINGS = [
    "## Machine",
    "## 1. Training loop overhead",
    "## 2. Inference overhead",
    "## 3. Data",
    "## 4. Models",
    "## 5. Cost vs resolution",
    "## 6. Course wall time",
    "## 7. Fast defaults",
]


def _load_run():
    spec = importlib.util.spec_from_file_location("benchmarks_run", RUN)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def bench():
    return _load_run()


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^(## .*)$", text, flags=re.M)
    return {h: body for h, body in zip(parts[1::2], parts[2::2])}


def _table(body: str) -> list[list[str]]:
    """Rows of the first markdown table in ``body`` (header and rule left out)."""
    lines = [ln for ln in body.splitlines() if ln.startswith("|")]
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines[2:]]


def _number(cell: str) -> float:
    return float(re.match(r"[-+]?\d+(\.\d+)?(e[-+]?\d+)?", cell).group(0))


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "results.md"
    # one intra-op thread: keeps the smoke run quick on a CPU other jobs share
    p = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--threads", "1", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    return out


def test_quick_run_writes_every_section_with_numbers(quick_report):
    text = quick_report.read_text()
    sec = _sections(text)
    for h in HEADINGS:
        match = [k for k in sec if k.startswith(h)]
        assert match, f"section {h!r} missing"
        body = sec[match[0]]
        if h == "## 6. Course wall time":
            assert "Skipped in `--quick`" in body
        elif h == "## 7. Fast defaults":  # yes/no probes
            rows = _table(body)
            assert rows and all(r[1].split()[0] in ("yes", "no") for r in rows)
        else:
            assert re.search(r"\d", body), f"section {h!r} holds no numbers"
    assert not re.search(r"\bnan\b", text, flags=re.I), "a measurement came out as NaN"
    assert f"| torch | {torch.__version__} |" in text
    assert "| torch threads (intra-op) | 1 |" in text


def test_quick_fit_and_bare_loop_do_the_same_work(quick_report):
    sec = _sections(quick_report.read_text())
    rows = _table(next(v for k, v in sec.items() if k.startswith("## 1.")))
    assert rows
    for r in rows:
        ratio, weights_diff = _number(r[3]), float(r[7])
        assert 0 < ratio < math.inf
        assert weights_diff <= 1e-5  # same initial weights, data order and optimizer
    rows = _table(next(v for k, v in sec.items() if k.startswith("## 2.")))
    assert rows and all(r[-1] == "yes" for r in rows)  # predict == bare argmax


def test_quick_model_table_covers_the_registered_models(quick_report, bench):
    sec = _sections(quick_report.read_text())
    rows = _table(next(v for k, v in sec.items() if k.startswith("## 4.")))
    s = bench.Settings.quick_run()
    expected = {(m.partition("@")[0], size) for m in bench.model_specs(s) for size in s.sizes}
    got = {(r[0].split()[0], int(r[1])) for r in rows}
    assert len(rows) == len(expected) + len(s.sizes)  # deeplab_resnet18 at OS16 and OS8
    assert {r[0] for r in rows if r[0].startswith("deeplab")} == {
        "deeplab_resnet18 (OS16)",
        "deeplab_resnet18 (OS8)",
    }
    assert got == expected
    for r in rows:
        assert not r[2].startswith("error"), r
        assert _number(r[4]) > 0 and _number(r[6]) > 0  # train and inference images/s


def test_quick_json_matches_report(quick_report):
    res = json.loads(quick_report.with_suffix(".json").read_text())
    text = quick_report.read_text()
    for row in res["overhead"]["fit"]:
        assert f"{row['ratio']:.3f}" in text
    assert {r["size"] for r in res["data"]["rows"]} == {32, 64}
    assert res["data"]["rows"][0]["single"] > 0
    assert all(len(r["ips"]) == 2 and min(r["ips"]) > 0 for r in res["data"]["e2e"])


def test_report_renders_again_from_its_json(quick_report, tmp_path):
    out = tmp_path / "again.md"
    p = subprocess.run(
        [sys.executable, str(RUN), "--render-from", str(quick_report.with_suffix(".json")),
         "--out", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    assert out.read_text() == quick_report.read_text()


def test_forward_gflops_matches_analytic_count(bench):
    # AllConvNet(width=32, depth=4): 3x3 convs 3->32 and 3 x (32->32), then a 1x1 to 6 classes
    size = 40
    macs = (3 * 32 * 9 + 3 * 32 * 32 * 9 + 32 * 6) * size * size
    model = models.build("allconv", 6)
    assert bench.forward_gflops(model, size) == pytest.approx(2 * macs / 1e9, rel=1e-6)


def test_cost_exponent_of_a_pixel_proportional_cost_is_one(bench):
    sizes = (64, 128, 256)
    assert bench._exponent(sizes, [3.0 * s * s for s in sizes]) == pytest.approx(1.0)
    assert bench._exponent(sizes, [7.0] * 3) == pytest.approx(0.0)


def test_overhead_stats(bench):
    st = bench.overhead_stats([2.0, 4.0, 6.0], [1.0, 2.0, 2.0])
    assert st["ratio"] == 2.0 and st["ratio_min"] == 2.0 and st["ratio_max"] == 3.0
    assert st["best_ratio"] == 2.0 and st["diff_s"] == 2.0


def test_peak_memory_sees_a_known_allocation(bench):
    if not bench.MEMORY.available:
        pytest.skip("peak resident memory needs Linux /proc")
    assert 60 <= bench.calibrate_memory(64) <= 80


def test_bad_section_is_refused():
    p = subprocess.run(
        [sys.executable, str(RUN), "--sections", "models,nope"], capture_output=True, text=True
    )
    assert p.returncode == 2 and "--sections" in p.stderr and "nope" in p.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without CUDA")
def test_gpu_script_refuses_without_cuda(tmp_path):
    out = tmp_path / "gpu.md"
    p = subprocess.run(
        [sys.executable, str(GPU), "--out", str(out)], capture_output=True, text=True
    )
    assert p.returncode == 2 and "CUDA" in p.stderr and "--dry-run" in p.stderr
    assert not out.exists()


def test_gpu_script_dry_run(tmp_path):
    out = tmp_path / "gpu.md"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run(
        [sys.executable, str(GPU), "--dry-run", "--models", "fcn_resnet18", "--size", "32",
         "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    text = out.read_text()
    assert text.startswith("**DRY RUN on the CPU: these are not GPU figures")
    rows = _table(_sections(text)["## FCN-ResNet18"])
    assert len(rows) == 8  # 4 precisions x 2 memory formats
    assert all(_number(r[2]) > 0 and _number(r[5]) > 0 for r in rows)
    assert "`engine.fit`" in text and "`inference.predict`" in text


def test_keep_from_remeasures_only_the_chosen_sections(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first, second = tmp_path / "a.md", tmp_path / "b.md"
    for out, extra in ((first, []), (second, ["--keep-from", str(first.with_suffix(".json"))])):
        sections = "defaults" if out is first else "overhead"
        p = subprocess.run(
            [sys.executable, str(RUN), "--quick", "--sections", sections, "--out", str(out), *extra],
            capture_output=True, text=True, env=env, timeout=600,
        )  # fmt: skip
        assert p.returncode == 0, p.stderr[-2000:]
    kept = json.loads(second.with_suffix(".json").read_text())
    assert set(kept["measured"]) == {"defaults", "overhead"}
    assert kept["defaults"] == json.loads(first.with_suffix(".json").read_text())["defaults"]
    assert "kept the others from the run before" in second.read_text()


def test_compare_quick_trains_every_model_with_one_loop(tmp_path):
    compare = ROOT / "benchmarks" / "compare.py"
    out = tmp_path / "compare.md"
    names = ["fcn_resnet18", "deeplabv3plus_resnet18", "tv_lraspp_mobilenet_v3_large"]
    p = subprocess.run(
        [sys.executable, str(compare), "--quick", "--models", *names, "smp_unet_resnet18",
         "--out", str(out)],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    results = json.loads(out.with_suffix(".json").read_text())
    smp = importlib.util.find_spec("segmentation_models_pytorch") is not None
    assert set(results) == set(names) | ({"smp_unet_resnet18"} if smp else set())
    for r in results.values():
        assert 0.0 <= r["miou_mean"] <= 1.0 and r["images_per_s"] > 0 and r["params_m"] > 0
    report = out.read_text()
    assert all(f"`{n}`" in report for n in names)
    assert ("Skipped (package not installed): smp_unet_resnet18" in report) != smp


def _separable(model):
    return any(c.groups > 1 for c in model.modules() if isinstance(c, torch.nn.Conv2d))


def _zero_init(model):
    return not torch.count_nonzero(model.backbone.layer1[0].bn2.weight)


def test_compare_variants_flip_only_the_choice_they_name():
    path = ROOT / "benchmarks" / "compare.py"
    spec = importlib.util.spec_from_file_location("benchmarks_compare", path)
    compare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compare)
    assert set(compare.DEFAULT_MODELS) <= set(compare.MODELS)
    built = {n: build(3) for n, (build, family) in compare.MODELS.items() if family == "fcnlib"}
    plus = built["deeplabv3plus_resnet18"]
    full, nozero = built["deeplabv3plus_resnet18_full"], built["deeplabv3plus_resnet18_nozero"]
    assert _separable(plus) and not _separable(full) and _separable(nozero)
    assert _zero_init(plus) and _zero_init(full) and not _zero_init(nozero)
    for name in ("fcn_resnet18", "deeplab_resnet18"):
        assert not _zero_init(built[name]) and _zero_init(built[f"{name}_zero"])
