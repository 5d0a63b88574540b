"""The Markdown report of ``benchmarks/run.py``, written from its results alone.

``run.py`` measures and stores everything in a results dict (saved as JSON next to the
report); :func:`write_report` only formats it, so ``run.py --render-from results.json``
rewrites a report without measuring anything.
"""

from __future__ import annotations

import math
from pathlib import Path

OVERHEAD_GOAL = 1.05
DATA_GOAL = 5.0
NOTEBOOK_GOAL_S, COURSE_GOAL_S = 180.0, 900.0


def _f(v, spec=".2f") -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def _yn(b) -> str:
    return "yes" if b else "no"


def _goal(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _other_machine(before: dict, latest: dict) -> str:
    """`` (taken on <CPU>, <date>)`` when the kept sections ran on another CPU than the latest run."""
    if before.get("CPU") == latest.get("CPU"):
        return ""
    return f" (taken on {before.get('CPU')}, {str(before.get('date (UTC)', ''))[:10]})"


def write_report(path: Path, s, res: dict) -> str:
    """Write the Markdown report of ``res`` (the results dict that run.py also stores as
    JSON) for settings ``s`` to ``path``; returns the text."""
    memory_available = not math.isnan(res["calibration"])
    L = []
    add = L.append
    mode = "quick smoke run (`--quick`): sizes and repeats are cut down" if s.quick else "full run"
    add("# fcnlib benchmarks (CPU)\n")
    add(
        f"Written by `python benchmarks/run.py{' --quick' if s.quick else ''}` — {mode}; "
        + (
            f"the first run took {res['wall_s_before']:.0f} s and the latest, which re-measured "
            f"only some sections, {res['wall_s']:.0f} s. Goals:"
            if res.get("wall_s_before") is not None
            else f"the whole run took {res['wall_s']:.0f} s. Goals:"
        )
        + f" overhead ratios ≤ {OVERHEAD_GOAL}, "
        f"data ≥ {DATA_GOAL:g}x the fastest training rate, every notebook ≤ {NOTEBOOK_GOAL_S:.0f} s "
        f"and the course ≤ {COURSE_GOAL_S / 60:.0f} min.\n"
    )
    if res.get("measured"):
        add(
            "Sections measured at (local time): "
            + ", ".join(f"{k} {v}" for k, v in res["measured"].items())
            + (
                "; the machine table is that of the latest run, which re-measured only "
                "some sections and kept the others from the run before"
                + _other_machine(res["machine_before"], res["machine"])
                + "."
                if "machine_before" in res
                else "."
            )
            + "\n"
        )
    m = res["machine"]
    cores = m["cores usable by this process"]
    try:
        loads = [float(str(m["load average at start (1/5/15 min)"]).split(" / ")[0])]
    except ValueError:  # no load average on this platform
        loads = []
    if loads and loads[0] > cores:
        add(
            f"**Taken on a busy machine**: the load average was {loads[0]:.1f} on {cores} cores "
            f"when the run started, so other processes shared the CPU; absolute times are "
            f"inflated and noisy, and this is not a reference run"
            + (
                f" (PyTorch limited to {m['torch threads (intra-op)']} thread(s) to keep it usable)."
                if m["torch threads (intra-op)"] < cores
                else "."
            )
            + "\n"
        )
    add("## Machine\n")
    add("| | |\n|---|---|")
    for k, v in res["machine"].items():
        add(f"| {k} | {v} |")
    add(f"| load average at end (1/5/15 min) | {res['load_end']} |")
    add(
        "\nA load average above the number of cores means other processes shared the CPU "
        "while this ran: absolute times are then inflated, ratios less so (interleaved arms).\n"
    )

    add("## 1. Training loop overhead: `engine.fit` vs a bare PyTorch loop\n")
    if "overhead" in res:
        add(
            f"Same model, same data already in memory (a `TensorDataset`), AdamW with the poly "
            f"schedule, same batch size, `progress=False`, device CPU. Median of {s.repeats} "
            "interleaved repeats; ratio = median of the per-repeat ratios (min–max in brackets). "
            "*Best*: ratio of the best times of each arm. *Per step*: median per-repeat "
            "difference divided by the number of steps. *Weights Δ*: largest difference between "
            "the weights the two arms end with (0: they did exactly the same work). The last "
            "column is `fit` with its progress bar on (median per-repeat ratio).\n"
        )
        add(
            "| workload | bare loop (s) | engine.fit (s) | ratio | best | goal | per step (ms) | weights Δ | with progress bar |"
        )
        add("|---|---|---|---|---|---|---|---|---|")
        for r in res["overhead"]["fit"]:
            add(
                f"| {r['workload']} | {r['bare_s']:.3f} | {r['fit_s']:.3f} | "
                f"{r['ratio']:.3f} ({r['ratio_min']:.3f}–{r['ratio_max']:.3f}) | "
                f"{r['best_ratio']:.3f} | {_goal(r['ratio'] <= OVERHEAD_GOAL)} | "
                f"{r['per_step_overhead_ms']:+.3f} | {r['max_weight_diff']:.1e} | "
                f"{r['ratio_bar']:.3f} |"
            )
    else:
        add("Skipped (not in `--sections`).")

    add("\n## 2. Inference overhead: `inference.predict` vs bare forward + argmax\n")
    if "overhead" in res:
        add(
            "Bare arm: `model.eval()`, then `torch.cat([model(c).argmax(1) for c in x.split(B)])` "
            "under `torch.inference_mode()`. *Same masks*: the two arms return identical masks.\n"
        )
        add("| workload | bare (s) | predict (s) | ratio | best | goal | same masks |")
        add("|---|---|---|---|---|---|---|")
        for r in res["overhead"]["predict"]:
            add(
                f"| {r['workload']} | {r['bare_s']:.3f} | {r['predict_s']:.3f} | "
                f"{r['ratio']:.3f} ({r['ratio_min']:.3f}–{r['ratio_max']:.3f}) | "
                f"{r['best_ratio']:.3f} | {_goal(r['ratio'] <= OVERHEAD_GOAL)} | "
                f"{_yn(r['same_masks'])} |"
            )
    else:
        add("Skipped (not in `--sections`).")

    add("\n## 3. Data: ShapesScenes generation vs training\n")
    if "data" in res:
        d = res["data"]
        wcols = [f"{w} worker{'s' if w > 1 else ''} (img/s; first batch s)" for w in s.workers]
        add(
            "Images/s of `ShapesScenes`: drawn in the main process (`ds[i]` in a loop), read "
            "back from its cache on a second pass (`cache=True`, what `data.course_datasets` "
            "uses), and drawn through a `DataLoader` (batch 16) with workers, timed over one "
            "pass including worker start-up. Against the training rate of the fastest model at "
            f"that size (section 4, batch {s.batch}). Goal: ≥ {DATA_GOAL:g}x that rate.\n"
        )
        add(
            "| size (px) | images | drawn, one process | cached read | "
            + " | ".join(wcols)
            + " | fastest model | its training (img/s) | drawn / training | goal | cached / training | goal |"
        )
        add("|---" * (10 + len(wcols)) + "|")
        for r in d["rows"]:
            ws = " | ".join(
                f"{r[f'workers{w}']:.0f}; {r[f'first_batch{w}']:.2f}" for w in s.workers
            )
            add(
                f"| {r['size']} | {r['images']} | {r['single']:.0f} | {_f(r['cached'], '.0f')} | "
                f"{ws} | {r['fastest_model'] or 'n/a'} | {_f(r['fastest_train_ips'], '.1f')} | "
                f"{_f(r['ratio'], '.1f')}x | {_goal(r['ratio'] >= DATA_GOAL)} | "
                f"{_f(r['ratio_cached'], '.0f')}x | {_goal(r['ratio_cached'] >= DATA_GOAL)} |"
            )
        add(
            f"\n`engine.fit`, two epochs ({d['e2e_workload']}), images/s of each epoch from "
            "`History.seconds`. With workers, each epoch starts new worker processes, so a "
            "cache filled inside them is lost at the end of the epoch:\n"
        )
        add("| data | epoch 1 (img/s) | epoch 2 (img/s) |")
        add("|---|---|---|")
        for r in d["e2e"]:
            add(f"| {r['data']} | {r['ips'][0]:.1f} | {r['ips'][1]:.1f} |")
    else:
        add("Skipped (not in `--sections`).")

    add("\n## 4. Models: throughput and peak memory\n")
    if "models" in res:
        add(
            f"Every registered model (and DeepLab at output stride 8), batch {s.batch}, random "
            "input, CPU. Throughput from the median step time (training: forward, "
            "cross-entropy, backward, AdamW step). GFLOPs: one image's forward pass as "
            "`fcnlib.analysis.count_flops` counts it (a multiply-add of a convolution or matmul "
            "is 2 FLOPs, a normalisation layer 2 per element; the notebooks use the same "
            "count). Peak memory: "
            + (
                f"growth of the process's peak resident set (Linux `VmHWM`, reset through "
                f"`/proc/self/clear_refs` after `malloc_trim`) over the resident size before "
                f"the timed steps, i.e. activations, gradients and workspace; weights, input "
                f"and (for training) the optimizer state are excluded. `tracemalloc` does not "
                f"see PyTorch's allocations, so it is not used. Calibration: a freshly written "
                f"64 MiB tensor reads as {res['calibration']:.1f} MiB. "
                if memory_available
                else "not available on this platform (needs Linux /proc). "
            )
            + "*Feature maps*: the analytic size of every layer's output for the batch, from "
            "`fcnlib.analysis.activation_memory` (roughly what training keeps for the backward "
            "pass), as a cross-check of the measured training peak.\n"
        )
        add(
            "| model | size (px) | params (M) | GFLOPs/img | train (img/s) | of a step: AdamW update (ms) | infer (img/s) | train peak (MiB) | infer peak (MiB) | feature maps (MiB) |"
        )
        add("|---|---|---|---|---|---|---|---|---|---|")
        for r in res["models"]:
            if "error" in r:
                add(f"| {r['model']} | {r['size']} | error: {r['error'][:80]} | | | | | | | |")
                continue
            add(
                f"| {r['model']} | {r['size']} | {r['params_m']:.2f} | {r['gflops']:.3f} | "
                f"{r['train_ips']:.1f} | {r['opt_ms']:.1f} | {r['infer_ips']:.1f} | "
                f"{_f(r['train_mem_mib'], '.0f')} | "
                f"{_f(r['infer_mem_mib'], '.0f')} | {_f(r['act_mib'], '.0f')} |"
            )
    else:
        add("Skipped (not in `--sections`).")

    add("\n## 5. Cost vs resolution\n")
    if res.get("scaling"):
        sz = s.sizes
        add(
            "From section 4. *Exponent*: least-squares slope of log(cost) against log(pixels), "
            "so 1.0 means cost proportional to the number of pixels (x4 per doubling of the "
            "side). FLOPs are exact counts; times carry the machine's noise and fixed per-step "
            "costs (the optimizer update, section 4, costs the same at every size), which "
            "flatten them at small sizes."
            + (f" Plot: `{res['plot']}`." if res.get("plot") else "")
            + "\n"
        )
        hs = " / ".join(f"{v}" for v in sz)
        add(f"Each cell lists the values at {hs} px; the exponent follows in brackets.\n")
        add("| model | forward GFLOPs/img | train ms/img | inference ms/img | train peak MiB |")
        add("|---|---|---|---|---|")

        def cell(f, k, spec=".3g"):
            vals = " / ".join(_f(v, spec) for v in f[k])
            return f"{vals} ({_f(f['exp_' + k])})"

        for f in res["scaling"]:
            add(
                f"| {f['family']} | {cell(f, 'gflops')} | {cell(f, 'train_ms')} | "
                f"{cell(f, 'infer_ms')} | {cell(f, 'train_mem', '.0f')} |"
            )
        by = {f["spec"]: f for f in res["scaling"]}
        pairs = [(b, f"{b}@os8") for b in ("deeplab_resnet18", "deeplab_resnet50")]
        pairs = [(a, b) for a, b in pairs if a in by and b in by]
        if pairs:
            add("\nOutput stride 8 against 16 (DeepLab), ratio OS8 / OS16 at each size:\n")
            add("| backbone | FLOPs | train time | train peak memory |")
            add("|---|---|---|---|")
            for a, b in pairs:
                fa, fb = by[a], by[b]

                def ratio(k, fa=fa, fb=fb):
                    return " / ".join(
                        _f(y / x if x else float("nan")) for x, y in zip(fa[k], fb[k])
                    )

                add(
                    f"| {a.split('_')[1]} | {ratio('gflops')} | {ratio('train_ms')} | "
                    f"{ratio('train_mem')} |"
                )
    else:
        add("Skipped (needs section 4).")

    add("\n## 6. Course wall time\n")
    if s.quick:
        add("Skipped in `--quick`.")
    elif "course" not in res:
        add("Skipped (not in `--sections`).")
    elif not res["course"]:
        add("No notebooks found in `notebooks/`.")
    else:
        add(
            "Each notebook executed in order with `jupyter nbconvert --to notebook --execute` "
            "(as `make course` does), `MPLBACKEND` unset, in a fresh copy of `notebooks/` (no "
            "checkpoints from earlier runs)"
            + (
                f", with `OMP_NUM_THREADS={res['course_threads']}` (from `--threads`)"
                if res.get("course_threads")
                else ""
            )
            + f". Goal: ≤ {NOTEBOOK_GOAL_S:.0f} s each.\n"
        )
        add("| notebook | seconds | ran | goal |")
        add("|---|---|---|---|")
        for r in res["course"]:
            ran = "ok" if r["ok"] else f"**failed**: {r['error'][:200]}"
            goal = _goal(r["seconds"] <= NOTEBOOK_GOAL_S) if r["ok"] else "—"
            add(f"| {r['notebook']} | {r['seconds']:.0f} | {ran} | {goal} |")
        total = sum(r["seconds"] for r in res["course"])
        ok = sum(r["ok"] for r in res["course"])
        verdict = _goal(total <= COURSE_GOAL_S) if ok == len(res["course"]) else "incomplete"
        add(
            f"| **whole course** | {total:.0f} ({total / 60:.1f} min) | "
            f"{ok}/{len(res['course'])} ok | {verdict} |"
        )
        add(f"\nThe total covers the {len(res['course'])} notebooks present in `notebooks/`.")

    add("\n## 7. Fast defaults (probes)\n")
    if "defaults" in res:
        add("| default | applied |")
        add("|---|---|")
        for k, v in res["defaults"]:
            add(f"| {k} | {v} |")
    else:
        add("Skipped (not in `--sections`).")

    text = "\n".join(L) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text
