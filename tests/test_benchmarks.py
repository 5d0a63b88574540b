"""The benchmark harness: a smoke run of ``benchmarks/run.py --quick`` and checks of its parts.

These tests never assert a time: the numbers depend on the machine. They check the results
each script stores as JSON (every section measured, sane numbers, the two arms of an overhead
doing the same work) and that the measuring tools measure what they claim (against the
analytic FLOP count and a known allocation); the Markdown is only checked to render again
from the JSON alone.
"""

import argparse
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


def _load(script: str):
    """The module of ``benchmarks/<script>.py``, imported from its path."""
    spec = importlib.util.spec_from_file_location(
        f"benchmarks_{script}", ROOT / "benchmarks" / f"{script}.py"
    )
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def bench():
    return _load("run")


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


def _results(report_path: Path) -> dict:
    return json.loads(report_path.with_suffix(".json").read_text())


def _numbers(obj):
    """Every float in a JSON value, however deeply nested."""
    if isinstance(obj, float):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _numbers(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _numbers(v)


def test_quick_run_measures_every_section(quick_report):
    res = _results(quick_report)
    for key in ("overhead", "data", "models", "scaling", "defaults"):
        assert res.get(key), f"section {key!r} missing or empty"
    assert "course" not in res  # skipped with --quick
    assert set(res["measured"]) == {"overhead", "data", "models", "defaults"}
    assert not [v for v in _numbers(res) if math.isnan(v)], "a measurement came out as NaN"
    assert res["machine"]["torch"] == torch.__version__
    assert res["machine"]["torch threads (intra-op)"] == 1
    assert all(answer.split()[0] in ("yes", "no") for _, answer in res["defaults"])


def test_quick_fit_and_bare_loop_do_the_same_work(quick_report):
    res = _results(quick_report)
    assert res["overhead"]["fit"]
    for r in res["overhead"]["fit"]:
        assert 0 < r["ratio"] < math.inf and r["ratio_min"] <= r["ratio"] <= r["ratio_max"]
        assert r["max_weight_diff"] <= 1e-5  # same initial weights, data order and optimizer
    assert res["overhead"]["predict"]
    assert all(r["same_masks"] for r in res["overhead"]["predict"])  # predict == bare argmax


def test_quick_model_table_covers_the_registered_models(quick_report, bench):
    rows = _results(quick_report)["models"]
    s = bench.Settings.quick_run()
    expected = {(m, size) for m in bench.model_specs(s) for size in s.sizes}
    assert {(r["spec"], r["size"]) for r in rows} == expected
    assert len(rows) == len(expected)
    assert {r["model"] for r in rows if r["model"].startswith("deeplab")} == {
        "deeplab_resnet18 (OS16)",
        "deeplab_resnet18 (OS8)",
    }
    for r in rows:
        assert "error" not in r, r
        assert r["train_ips"] > 0 and r["infer_ips"] > 0 and r["gflops"] > 0


def test_quick_data_rates(quick_report):
    d = _results(quick_report)["data"]
    assert {r["size"] for r in d["rows"]} == {32, 64}
    assert all(r["single"] > 0 and r["cached"] > 0 for r in d["rows"])
    assert all(len(r["ips"]) == 2 and min(r["ips"]) > 0 for r in d["e2e"])


def test_report_renders_again_from_its_json(quick_report, tmp_path):
    out = tmp_path / "again.md"
    p = subprocess.run(
        [sys.executable, str(RUN), "--render-from", str(quick_report.with_suffix(".json")),
         "--out", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    assert out.read_text() == quick_report.read_text()


def test_forward_gflops_is_the_analysis_count(bench):
    # AllConvNet(width=32, depth=4): 3x3 convs 3->32 and 3 x (32->32), then a 1x1 to 6 classes;
    # a multiply-add is 2 FLOPs, each of the 4 BatchNorms 2 per element (analysis.count_flops)
    size = 40
    macs = (3 * 32 * 9 + 3 * 32 * 32 * 9 + 32 * 6) * size * size
    norms = 4 * 2 * 32 * size * size
    model = models.build("allconv", 6)
    assert bench.forward_gflops(model, size) == pytest.approx((2 * macs + norms) / 1e9, rel=1e-6)


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
    # a dry run's report cannot be mistaken for GPU figures
    assert out.read_text().startswith("**DRY RUN on the CPU: these are not GPU figures")
    res = _results(out)
    assert res["dry_run"] is True
    rows = res["rows"]["fcn_resnet18"]
    assert len(rows) == 8  # 4 precisions x 2 memory formats
    assert all(r["train_ips"] > 0 and r["infer_ips"] > 0 for r in rows)
    assert res["library"]["fcn_resnet18"]["fit_ips"] > 0
    assert res["library"]["fcn_resnet18"]["predict_ips"] > 0


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
    kept, before = _results(second), _results(first)
    assert set(kept["measured"]) == {"defaults", "overhead"}
    assert kept["defaults"] == before["defaults"]
    assert kept["machine_before"] == before["machine"] and "overhead" in kept


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
    settings, results = _load("compare").read_results(out.with_suffix(".json"))
    assert settings["image_size"] == 64 and settings["seeds"] == [0] and settings["epochs"] == 1
    smp = importlib.util.find_spec("segmentation_models_pytorch") is not None
    assert set(results) == set(names) | ({"smp_unet_resnet18"} if smp else set())
    for r in results.values():
        assert 0.0 <= r["miou_mean"] <= 1.0 and r["images_per_s"] > 0 and r["params_m"] > 0
        assert r["miou"] == [r["miou_mean"]] and r["miou_spread"] == 0  # one seed
        assert 0.0 <= r["boundary_f1_mean"] <= 1.0 and r["inference_per_s"] > 0
        if sys.platform.startswith("linux"):  # one CPU training step, from /proc
            assert r["peak_mb"] > 0
    report = out.read_text()
    assert "| boundary F (mean) |" in report
    assert report.count("\n## Goals\n") == 1 and "2. `deeplabv3plus_resnet18` against" in report
    assert re.search(r"Run on \d{4}-\d{2}-\d{2}\. Machine: ", report), report[:400]


def test_train_speed_quick_times_every_model_against_the_reference(tmp_path):
    script = ROOT / "benchmarks" / "train_speed.py"
    out = tmp_path / "train_speed.md"
    names = ["deeplabv3plus_resnet18", "deeplab_resnet18"]
    p = subprocess.run(
        [sys.executable, str(script), "--quick", "--models", *names, "--reference", names[0],
         "--formats", "nchw", "channels_last", "--out", str(out)],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert {(r["model"], r["format"]) for r in rows} == {
        (n, f) for n in names for f in ("nchw", "channels_last")
    }
    for r in rows:
        assert len(r["repeat_seconds"]) == 2 and min(r["repeat_seconds"]) > 0
        assert r["images_per_s"] == pytest.approx(2 * 1000 / r["ms_per_step"])
        lo, hi = r["speed_vs_reference_range"]
        assert lo <= r["speed_vs_reference"] <= hi
        if r["model"] == names[0]:  # the reference against itself
            assert r["speed_vs_reference"] == 1.0 and (lo, hi) == (1.0, 1.0)
    assert "| speed against the reference |" in out.read_text()


def test_train_speed_sizes_are_one_side_or_height_by_width():
    mod = _load("train_speed")
    assert mod.parse_size("64") == (64, 64) and mod.parse_size("96x128") == (96, 128)
    for bad in ("8", "96x", "1x2x3", "abc"):
        with pytest.raises(argparse.ArgumentTypeError, match="S or HxW"):
            mod.parse_size(bad)


def test_compare_cpu_peak_memory_leaves_the_model_and_the_random_numbers_alone():
    compare = _load("compare")
    if not compare.MEMORY.available:
        pytest.skip("peak resident memory needs Linux /proc")
    model = models.build("deeplabv3plus_resnet18", 3, width=8, aspp_channels=16)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    scenes = [(torch.rand(3, 32, 32), torch.randint(0, 3, (32, 32))) for _ in range(4)]
    args = argparse.Namespace(batch_size=4, lr=1e-2, weight_decay=0.0)
    torch.manual_seed(3)
    expected = torch.rand(5)
    torch.manual_seed(3)
    peak = compare.cpu_step_peak_mb(model, scenes, torch.nn.CrossEntropyLoss(), args)
    assert torch.equal(torch.rand(5), expected)  # the global generator did not move
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert peak > 0


def test_compare_keeps_the_rows_of_an_earlier_run_with_the_same_settings(tmp_path):
    compare = _load("compare")
    first, second = tmp_path / "first.md", tmp_path / "second.md"
    compare.main(["--quick", "--models", "fcn_resnet18", "--out", str(first)])
    earlier = json.loads(first.with_suffix(".json").read_text())
    earlier["fcn_resnet18"]["peak_mb"] = None  # as in files written before it was measured
    first.with_suffix(".json").write_text(json.dumps(earlier))
    compare.main(["--quick", "--models", "tv_lraspp_mobilenet_v3_large",
                  "--keep-from", str(first.with_suffix(".json")), "--out", str(second)])  # fmt: skip
    _, both = compare.read_results(second.with_suffix(".json"))
    assert set(both) == {"fcn_resnet18", "tv_lraspp_mobilenet_v3_large"}
    kept = both["fcn_resnet18"]
    assert kept["miou"] == earlier["fcn_resnet18"]["miou"]  # carried over, not retrained
    assert kept["date"] == earlier["settings"]["date"]
    if compare.MEMORY.available:
        assert kept["peak_mb"] > 0  # measured now
    assert "were trained by the runs of `first.json`" in second.read_text()
    with pytest.raises(SystemExit, match="other settings"):  # another budget: refused
        compare.main(["--quick", "--batch-size", "8", "--models", "tv_lraspp_mobilenet_v3_large",
                      "--keep-from", str(first.with_suffix(".json")), "--out", str(second)])  # fmt: skip
    with pytest.raises(SystemExit, match="no such file"):
        compare.main(["--quick", "--keep-from", str(tmp_path / "nope.json"), "--out", str(second)])


def test_compare_image_size_is_one_side_or_height_and_width():
    compare = _load("compare")
    assert compare._size([64]) == 64 and compare._size([96, 128]) == (96, 128)
    with pytest.raises(SystemExit, match="--image-size"):
        compare._size([1, 2, 3])


def _summary(family, mious, images_per_s=10.0):
    return {
        "family": family,
        "miou": mious,
        "miou_mean": sum(mious) / len(mious),
        "miou_spread": max(mious) - min(mious),
        "images_per_s": images_per_s,
    }


def test_compare_goals_follow_the_numbers(tmp_path):
    compare = _load("compare")
    ahead = {
        "deeplabv3plus_resnet18": _summary("fcnlib", [0.40, 0.41, 0.42], 12.0),
        "fcn_resnet18": _summary("fcnlib", [0.1, 0.1, 0.1], 30.0),
        "smp_deeplabv3plus_resnet18": _summary(
            "segmentation_models_pytorch", [0.30, 0.31, 0.33], 11.0
        ),
    }
    text = "\n".join(compare.goals(ahead))
    assert "spread: **met**" in text and "`deeplabv3plus_resnet18` 0.410" in text
    assert "lead of +0.097, against a spread of 0.030" in text
    assert "better mIoU: **met**" in text and "(1.09x)" in text
    close = dict(
        ahead,
        smp_deeplabv3plus_resnet18=_summary(
            "segmentation_models_pytorch", [0.36, 0.40, 0.44], 13.0
        ),
    )
    text = "\n".join(compare.goals(close))
    assert "spread: **not met**" in text and "better mIoU: **not met**" in text
    # fcnlib's highest mean is level with another of its models that clears the spread
    level = dict(ahead, fcn8s=_summary("fcnlib", [0.35, 0.40, 0.49], 50.0))
    text = "\n".join(compare.goals(level))
    assert "spread: **met**. `deeplabv3plus_resnet18` 0.410" in text
    assert "fcnlib's highest mean, `fcn8s` 0.413, is 0.003 above it" in text
    noisy = dict(level, deeplabv3plus_resnet18=_summary("fcnlib", [0.30, 0.41, 0.52], 12.0))
    assert "spread: **not met**. `fcn8s` 0.413" in "\n".join(compare.goals(noisy))
    only_ours = {"fcn_resnet18": ahead["fcn_resnet18"]}
    assert "not measured in this run" in compare.goals(only_ours)[2]
    # --goals-from rewrites the section in place, once, and keeps the rest of the report
    report, js = tmp_path / "compare.md", tmp_path / "compare.json"
    report.write_text("# From scratch\n\n| table |\n")
    js.write_text(json.dumps(ahead))
    for _ in range(2):
        compare.main(["--goals-from", str(js), "--out", str(report)])
    text = report.read_text()
    assert (
        text.startswith("# From scratch\n\n| table |\n\n## Goals\n") and text.count("## Goals") == 1
    )
    with pytest.raises(SystemExit, match="no such file"):
        compare.main(["--goals-from", str(tmp_path / "missing.json"), "--out", str(report)])


def test_compare_models_are_the_defaults_and_output_stride_8():
    compare = _load("compare")
    assert set(compare.DEFAULT_MODELS) <= set(compare.MODELS)
    built = {n: build(3) for n, (build, family) in compare.MODELS.items() if family == "fcnlib"}
    assert built["deeplab_resnet18"].output_stride == 16
    assert built["deeplab_resnet18_os8"].output_stride == 8


def test_lessons_claims_follow_the_thresholds():
    lessons = _load("lessons")
    good = {
        "shallow_allconv": {"miou": 0.20, "boundary_f1": 0.3},
        "deep_allconv": {"miou": 0.26, "boundary_f1": 0.5},
        "encoder_decoder": {"miou": 0.60, "boundary_f1": 0.8},
        "fcn32s": {"miou": 0.30, "boundary_f1": 0.2},
        "fcn8s": {"miou": 0.70, "boundary_f1": 0.85},
    }
    assert all(lessons.claims(good).values())
    bad = {**good, "deep_allconv": {"miou": 0.24, "boundary_f1": 0.5}}
    failed = [k for k, ok in lessons.claims(bad).items() if not ok]
    assert failed == ["deep_allconv >= shallow_allconv + 0.05"]


def test_deeplab_input_scale_names_a_missing_checkpoint_and_bad_scales(tmp_path):
    bench = _load("deeplab_input_scale")
    with pytest.raises(SystemExit, match="missing.pt"):
        bench.backbone_from(tmp_path / "missing.pt", 3)
    with pytest.raises(SystemExit, match="--scales"):
        bench.main(["--scales", "0", "--seeds", "0"])


def test_deeplab_ladder_names_a_missing_checkpoint_and_bad_epochs(tmp_path):
    bench = _load("deeplab_ladder")
    with pytest.raises(SystemExit, match="missing.pt"):
        bench.fcn04(tmp_path / "missing.pt", 6)
    with pytest.raises(SystemExit, match="--epochs"):
        bench.main(["--epochs", "0", "--seeds", "0"])


def test_deeplab_ladder_rungs_differ_in_one_thing_each():
    from fcnlib import course

    bench = _load("deeplab_ladder")
    r = course.recipe("05")
    built = {rung: bench.build(rung, r, 6, None) for rung in bench.RUNGS}
    assert [m.output_stride for m in built.values()] == [8, 16, 16, 16]
    assert {m.input_scale for m in built.values()} == {r.input_scale}
    fcn8, plain16, v3, v3plus = built.values()
    assert type(fcn8.classifier) is type(plain16.classifier)  # the same head, another stride
    assert type(v3).__name__ == "DeepLabV3" and type(v3plus).__name__ == "DeepLabV3Plus"
    start = bench.build("fcn_os8", r, 6, None)
    for p in start.parameters():
        p.data.normal_()
    again = bench.build("deeplab_v3", r, 6, start)  # the backbone comes from `start`
    for (k, a), b in zip(start.backbone.state_dict().items(), again.backbone.state_dict().values()):
        assert torch.equal(a, b), k


def test_deeplab_ladder_spread_is_the_mean_and_range_over_seeds():
    bench = _load("deeplab_ladder")
    runs = [{"seed": s, "rung": "deeplab_v3", "miou": m} for s, m in ((0, 0.5), (1, 0.7))]
    assert bench.spread(runs) == {
        "deeplab_v3": {"miou": {"mean": pytest.approx(0.6), "min": 0.5, "max": 0.7}}
    }


@pytest.mark.skipif(
    importlib.util.find_spec("segmentation_models_pytorch") is None,
    reason="segmentation_models_pytorch is not installed",
)
def test_v3plus_time_splits_both_models_into_backbone_and_head():
    p = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "v3plus_time.py"), "--size", "32", "32",
         "--batch-size", "2", "--min-time", "0.1"],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    rows = [line for line in p.stdout.splitlines() if "backbone" in line]
    assert [r.split()[0] for r in rows] == ["fcnlib", "segmentation_models_pytorch"]


def test_report_names_the_machine_of_sections_kept_from_another_one():
    report = _load("report")
    intel = {"CPU": "Intel(R) Xeon(R)", "date (UTC)": "2026-11-30T10:02:50+00:00"}
    amd = {"CPU": "AMD EPYC", "date (UTC)": "2026-12-04T20:34:22+00:00"}
    assert report._other_machine(intel, amd) == " (taken on Intel(R) Xeon(R), 2026-11-30)"
    assert report._other_machine(amd, dict(amd, **{"date (UTC)": "2026-12-05"})) == ""
