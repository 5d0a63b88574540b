"""The course's chain of trained models, so that every notebook also runs alone.

Notebook 05 starts DeepLab from the backbone that notebook 04 trained; notebook 06 analyses the
models of notebooks 02, 03 and 05. Opened alone (a fresh Colab runtime, or a learner who skips
ahead), a notebook finds none of their checkpoints. :func:`obtain` is the one call it makes::

    fcn8s = course.obtain("03_fcn8s", seed=SEED, device=DEVICE)

It loads ``checkpoints/03_fcn8s.pt`` when that file was made by notebook 03's recipe with the
same seed (and FULL_RUN setting); otherwise it trains the model with that recipe, printing what
it does and how long it should take, and saves it for the next notebook.

A recipe's settings live here, once: the notebook that trains the model reads them in its
Settings cell (``R = course.recipe("03", full_run=FULL_RUN, seed=SEED)``), and :func:`obtain`
trains with the same values, so a notebook run alone reaches the numbers of the in-order run.

Two more pieces serve every notebook's ``FULL_RUN`` branch:

* :func:`resumable` gives ``engine.fit`` a checkpoint folder for a long run, written after
  every epoch and resumed when the cell runs again (a Colab disconnect loses one epoch);
* :func:`estimate` times a few training steps and prints how long the whole training will take;

and :func:`shrink` is the ``SMOKE`` switch: the ``FULL_RUN`` code path at toy sizes, so that CI
can execute it in seconds (its numbers mean nothing).
"""

from __future__ import annotations

import copy
import random
import time
from pathlib import Path

import numpy as np
import torch

from . import checkpoints, data, engine, models, pretrain

CHECKPOINT_DIR = "checkpoints"

# Each notebook's recipe: the settings of the CPU run (built-in scenes) and of FULL_RUN (a real
# data set, on a GPU). "pretrained": ImageNet weights for the backbone (FULL_RUN only).
RECIPES: dict[str, dict[str, dict]] = {
    "02": {
        "cpu": dict(dataset="shapes", image_size=48, train_size=1000, val_size=200,
                    epochs=10, batch_size=8, lr=2e-3, background_weight=0.3, width=16,
                    upsample="bilinear"),
        "full": dict(dataset="voc", image_size=320, train_size=None, val_size=None,
                     epochs=30, batch_size=16, lr=1e-3, background_weight=1.0, width=48,
                     upsample="bilinear"),
    },
    "03": {
        "cpu": dict(dataset="shapes", image_size=64, train_size=1000, val_size=200,
                    epochs={"32s": 5, "16s": 2, "8s": 6}, batch_size=8, lr=2e-3, width=16),
        "full": dict(dataset="voc", image_size=320, train_size=None, val_size=None,
                     epochs={"32s": 30, "16s": 10, "8s": 10}, batch_size=16, lr=1e-3, width=64),
    },
    "04": {
        "cpu": dict(dataset="shapes", image_size=64, train_size=1000, val_size=200,
                    epochs=16, batch_size=16, lr=1e-3, background_weight=0.3, width=16,
                    pretrained=False),
        "full": dict(dataset="voc", image_size=320, train_size=None, val_size=None,
                     epochs=20, batch_size=16, lr=1e-3, background_weight=1.0, width=64,
                     pretrained=True),
    },
    "05": {
        "cpu": dict(dataset="shapes", image_size=64, train_size=1000, val_size=200,
                    backbone="resnet18", pretrained=False, backbone_from="04",
                    epochs=8, batch_size=16, width=16, optimizer="sgd", lr=0.01,
                    warmup_epochs=0.5, head_lr_mult=10, background_weight=0.3,
                    output_stride=16, aspp_rates=(1, 2, 3), aspp_channels=64,
                    input_scale=1.75),
        "full": dict(dataset="voc", image_size=321, train_size=None, val_size=None,
                     backbone="resnet50", pretrained=True, backbone_from=None,
                     epochs=30, batch_size=16, width=64, optimizer="sgd", lr=0.01,
                     warmup_epochs=1, head_lr_mult=10, background_weight=1.0,
                     output_stride=16, aspp_rates=(6, 12, 18), aspp_channels=256,
                     input_scale=1),
    },
}  # fmt: skip

# SMOKE: every setting with one of these names is capped at this value (epochs, sizes, counts)
SMOKE_LIMITS = {
    "image_size": 64, "train_size": 12, "val_size": 8, "epochs": 1, "batch_size": 4,
    "coarse_epochs": 1, "encdec_epochs": 1, "classifier_epochs": 1, "retrain_epochs": 1,
    "retrain_train_size": 12, "n_eval": 8, "explore": 4, "crops": 48, "model_size": 64,
    "small_batch_steps": 2, "extra_steps": 2, "num_frames": 8, "scene_size": 64,
    "probe_size": 64, "clip_size": 64,
}  # fmt: skip


def _cap(limit, value):
    """``value`` capped at ``limit`` (element-wise in a dict, tuple or list; ``None`` -> limit)."""
    if value is None:
        return limit
    if isinstance(value, dict):
        return {k: _cap(limit, v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_cap(limit, v) for v in value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return min(value, limit)
    return value


def shrink(settings: dict) -> dict:
    """The ``SMOKE`` switch: cap every size, count and epoch setting in ``settings`` in place.

    ``settings`` is a dict of names (a notebook passes ``globals()``); each name listed in
    :data:`SMOKE_LIMITS` (compared in lower case: ``IMAGE_SIZE``, ``EPOCHS``, ``N_EVAL`` ...)
    is capped at its limit, ``None`` ("all of it") included; other names are left alone.
    Returns the changed names with their new values (a notebook prints them).
    """
    changed = {}
    for name, value in list(settings.items()):
        if name.lower() in SMOKE_LIMITS and not name.startswith("_"):
            new = _cap(SMOKE_LIMITS[name.lower()], value)
            if new != value:
                settings[name] = changed[name] = new
    return changed


class Recipe:
    """One notebook's training settings (attribute access: ``R.image_size``, ``R.epochs``).

    Made by :func:`recipe`. ``record()`` is what a checkpoint saves, so that :func:`obtain`
    can tell whether a file was trained with these settings.
    """

    def __init__(self, notebook: str, settings: dict, *, full_run: bool, seed: int, smoke: bool):
        self.notebook, self.full_run, self.seed, self.smoke = notebook, full_run, seed, smoke
        self.settings = dict(settings)

    def __getattr__(self, name: str):
        try:
            return self.__dict__["settings"][name]
        except KeyError:
            raise AttributeError(f"recipe {self.notebook} has no setting {name!r}") from None

    @property
    def normalize(self) -> bool:
        """Whether this recipe's inputs are normalised (:func:`normalize_inputs`)."""
        return normalize_inputs(self.settings.get("pretrained", False))

    def record(self) -> dict:
        """The settings as plain values, as a checkpoint stores them."""
        plain = {k: list(v) if isinstance(v, tuple) else v for k, v in self.settings.items()}
        return {"notebook": self.notebook, "seed": self.seed, "full_run": self.full_run,
                "smoke": self.smoke, "settings": plain}  # fmt: skip

    def datasets(self):
        """``(train_set, val_set)`` of this recipe (downloaded on first use in a full run)."""
        return datasets(
            self.dataset, self.image_size, self.train_size, self.val_size,
            seed=self.seed, pretrained=self.normalize, full_run=self.full_run,
        )  # fmt: skip

    def __repr__(self) -> str:
        mode = "FULL_RUN" if self.full_run else "CPU run"
        rows = "\n".join(f"  {k:<18} {v!r}" for k, v in self.settings.items())
        return f"notebook {self.notebook}'s recipe ({mode}, seed {self.seed}):\n{rows}"


def recipe(
    notebook: str,
    *,
    full_run: bool = False,
    full_dataset: str | None = None,
    seed: int = 0,
    smoke: bool = False,
    **changes,
) -> Recipe:
    """The settings notebook ``notebook`` ("02" ... "05") trains its models with.

    ``full_run`` picks the real-data settings, on ``full_dataset`` when given (a name of
    ``data.DATASETS``; default PASCAL VOC); ``smoke`` caps them (see :func:`shrink`);
    ``changes`` replace settings by name (``course.recipe("03", epochs={...})``), and the
    checkpoints made with them record it, so :func:`obtain` will not mistake them for the
    course's.
    """
    key = str(notebook)[:2]
    if key not in RECIPES:
        raise ValueError(f"notebook must be one of {sorted(RECIPES)}, got {notebook!r}")
    settings = dict(RECIPES[key]["full" if full_run else "cpu"])
    if full_run and full_dataset is not None:
        settings["dataset"] = full_dataset
    unknown = sorted(set(changes) - set(settings))
    if unknown:
        raise ValueError(
            f"notebook {key}'s recipe has no setting {unknown}; it has {sorted(settings)}"
        )
    settings.update(changes)
    if smoke:
        shrink(settings)
    return Recipe(key, settings, full_run=full_run, seed=seed, smoke=smoke)


def normalize_inputs(pretrained: bool) -> bool:
    """The course's one rule for input normalisation: ImageNet's mean and std exactly when the
    backbone starts from ImageNet weights (the statistics those weights were trained with);
    otherwise images stay in [0, 1], as the built-in scenes and the shape classifier use them."""
    return bool(pretrained)


def datasets(name, image_size, train_size, val_size, *, seed, pretrained, full_run, **kw):
    """:func:`fcnlib.data.course_datasets` with the course's two rules: inputs normalised as
    :func:`normalize_inputs` says for ``pretrained``; a real data set downloaded on first use
    in a full run (``download=full_run``)."""
    kw.setdefault("download", bool(full_run))
    return data.course_datasets(
        name,
        image_size,
        train_size,
        val_size,
        seed=seed,
        normalize=normalize_inputs(pretrained),
        **kw,
    )


class UnitImageInput(torch.nn.Module):
    """``model`` taking images in [0, 1]: it normalises them with ImageNet's mean and std first.

    For code that feeds raw frames (``video``) to a model trained on normalised images.
    """

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        from .transforms import IMAGENET_MEAN, IMAGENET_STD

        self.model = model
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.num_classes = getattr(model, "num_classes", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) / self.std)


def for_unit_images(model: torch.nn.Module, normalized: bool) -> torch.nn.Module:
    """``model`` as it is, or wrapped in :class:`UnitImageInput` when it was trained on
    normalised images (``normalized``), so that it can be fed images in [0, 1]."""
    return UnitImageInput(model) if normalized else model


def resumable(run: str, full_run: bool, directory=CHECKPOINT_DIR) -> dict:
    """``engine.fit`` options that make a long ``FULL_RUN`` training survive a disconnect.

    In a full run: a checkpoint written after every epoch to ``directory/run/last.pt`` and
    resumed from when the cell runs again (a finished run is not trained again). On the CPU
    run: nothing (its trainings take seconds)::

        engine.fit(model, train_set, val_set, epochs=EPOCHS, **course.resumable("03_fcn32s", FULL_RUN))
    """
    if not full_run:
        return {}
    return {"checkpoint_dir": str(Path(directory) / run), "resume": True}


def estimate(model, train_set, epochs: float, *, steps: int = 3, **fit_kwargs) -> float:
    """Time ``steps`` training steps of a copy of ``model`` and print how long ``epochs``
    epochs will take; returns that estimate in seconds.

    ``fit_kwargs`` are the options the real :func:`fcnlib.engine.fit` call will get (batch
    size, scales, device ...). The model, the random-number states and any checkpoint folder
    are left untouched. The first step (set-up, memory allocation) is not counted.
    """
    fit_kwargs = {k: v for k, v in fit_kwargs.items() if k not in ("checkpoint_dir", "resume")}
    fit_kwargs.update(progress=False, continue_training=True)
    batch_size = fit_kwargs.get("batch_size", 16)
    steps_per_epoch = -(-len(train_set) // batch_size)
    with torch.random.fork_rng(devices=[]):
        py_state, np_state = random.getstate(), np.random.get_state()
        trial = copy.deepcopy(model)
        engine.fit(trial, train_set, None, epochs=1, max_steps=1, **fit_kwargs)
        t0 = time.perf_counter()
        engine.fit(trial, train_set, None, epochs=1, max_steps=steps, **fit_kwargs)
        per_step = (time.perf_counter() - t0) / min(steps, steps_per_epoch)
        random.setstate(py_state)
        np.random.set_state(np_state)
    total = per_step * steps_per_epoch * epochs
    print(
        f"estimate: {per_step:.2f} s per step x {steps_per_epoch} steps x {epochs:g} epochs "
        f"= about {_duration(total)} of training"
    )
    return total


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# --- obtaining the models that earlier notebooks train -------------------------------------


def _class_weights(r: Recipe, k: int):
    return [r.background_weight] + [1.0] * (k - 1)


def _train_02(r: Recipe, device, log, checkpoint_dir) -> dict:
    train_set, _ = r.datasets()
    k = len(train_set.classes)
    engine.seed_everything(r.seed)
    model = models.build("encoder_decoder", k, width=r.width, upsample=r.upsample)
    _fit(model, r, train_set, log, "02_encoder_decoder", device, checkpoint_dir,
         epochs=r.epochs, lr=r.lr, class_weights=_class_weights(r, k))  # fmt: skip
    return {"02_encoder_decoder": model}


def _train_03(r: Recipe, device, log, checkpoint_dir) -> dict:
    train_set, _ = r.datasets()
    k, previous = len(train_set.classes), None
    for variant in ("32s", "16s", "8s"):  # each stage starts from the one before
        engine.seed_everything(r.seed)
        net = models.build(f"fcn{variant}", k, width=r.width)
        if previous is not None:
            net.load_state_dict(previous.state_dict(), strict=False)
        _fit(net, r, train_set, log, f"03_fcn{variant}", device, checkpoint_dir,
             epochs=r.epochs[variant], lr=r.lr)  # fmt: skip
        previous = net
    return {"03_fcn8s": previous}


def _train_04(r: Recipe, device, log, checkpoint_dir) -> dict:
    train_set, _ = r.datasets()
    k = len(train_set.classes)
    engine.seed_everything(r.seed)
    model = models.build("fcn_resnet18", k, width=r.width, output_stride=8,
                         pretrained_backbone=r.pretrained)  # fmt: skip
    if not r.pretrained:  # the CPU run's stand-in for ImageNet, as notebook 04 uses
        pretrain.load_backbone(model)
    _fit(model, r, train_set, log, "04_fcn_resnet18", device, checkpoint_dir,
         epochs=r.epochs, lr=r.lr, class_weights=_class_weights(r, k))  # fmt: skip
    return {"04_fcn_resnet18": model}


def deeplab_kwargs(r: Recipe) -> dict:
    """The ``models.build`` options of notebook 05's DeepLab-v3 under recipe ``r``.

    ``input_scale``: every model of notebook 05 sees the image resized by this factor (its
    scores come back at the image's size), so that on the CPU run's 64-px scenes the
    output-stride-16 map is not a 4 x 4 grid.
    """
    return dict(output_stride=r.output_stride, aspp_rates=tuple(r.aspp_rates),
                aspp_channels=r.aspp_channels, width=r.width,
                input_scale=r.input_scale)  # fmt: skip


def deeplab_fit_options(r: Recipe, num_classes: int) -> dict:
    """DeepLab's training recipe (SGD, poly schedule with warm-up, 10x head) as fit options."""
    return dict(batch_size=r.batch_size, optimizer=r.optimizer, lr=r.lr, momentum=0.9,
                weight_decay=1e-4, lr_schedule="poly", warmup_epochs=r.warmup_epochs,
                head_lr_mult=r.head_lr_mult,
                class_weights=_class_weights(r, num_classes))  # fmt: skip


def backbone_start(r: Recipe, num_classes: int, device="auto", checkpoint_dir=CHECKPOINT_DIR):
    """The backbone state dict notebook 05's models start from, or ``None``.

    ``r.backbone_from``: ``None`` in a full run (ImageNet weights come with
    ``pretrained_backbone``); ``"04"`` on the CPU run, notebook 04's trained FCN-ResNet18
    (obtained: loaded or trained); ``"classifier"``, fcnlib's shape classifier, the course's
    stand-in for ImageNet that notebook 04 starts from (nothing to obtain or train).
    """
    if r.backbone_from is None:
        return None
    if r.backbone_from == "classifier":
        holder = models.build(f"fcn_{r.backbone}", num_classes, width=r.width)
        pretrain.load_backbone(holder)
        return {k: v.cpu() for k, v in holder.backbone.state_dict().items()}
    fcn = obtain(f"{r.backbone_from}_fcn_resnet18", full_run=r.full_run, seed=r.seed,
                 full_dataset=r.dataset if r.full_run else None, smoke=r.smoke,
                 device=device, checkpoint_dir=checkpoint_dir)  # fmt: skip
    if fcn.num_classes != num_classes:
        raise ValueError(f"notebook 04's model has {fcn.num_classes} classes, not {num_classes}")
    return {k: v.cpu() for k, v in fcn.backbone.state_dict().items()}


def _train_05(r: Recipe, device, log, checkpoint_dir) -> dict:
    train_set, _ = r.datasets()
    k = len(train_set.classes)
    start = backbone_start(r, k, device, checkpoint_dir)
    out = {}
    for name, extra in ((f"05_deeplab_{r.backbone}", {}),
                        (f"05_deeplabv3plus_{r.backbone}", {"decoder": True})):  # fmt: skip
        engine.seed_everything(r.seed)
        model = models.build(f"deeplab_{r.backbone}", k, pretrained_backbone=r.pretrained,
                             **deeplab_kwargs(r), **extra)  # fmt: skip
        if start is not None:
            model.backbone.load_state_dict(start)
        _fit(model, r, train_set, log, name, device, checkpoint_dir, epochs=r.epochs,
             **deeplab_fit_options(r, k))  # fmt: skip
        out[name] = model
    return out


_TRAINERS = {"02": _train_02, "03": _train_03, "04": _train_04, "05": _train_05}


def _fit(model, r: Recipe, train_set, log, run, device, checkpoint_dir, *, epochs, **options):
    options = {"batch_size": r.batch_size, **options}
    estimate(model, train_set, epochs, device=device, seed=r.seed, **options)
    t0 = time.perf_counter()
    engine.fit(model, train_set, None, epochs=epochs, device=device, seed=r.seed,
               progress=r.full_run, **options, **resumable(run, r.full_run, checkpoint_dir))  # fmt: skip
    log(f"  {run}: {epochs} epochs in {time.perf_counter() - t0:.0f} s")


def _notebook_of(name: str) -> str:
    key = str(name)[:2]
    if key not in _TRAINERS:
        raise ValueError(
            f"name must be the stem of a course checkpoint, e.g. '03_fcn8s' or "
            f"'05_deeplab_resnet18' (notebooks {sorted(_TRAINERS)} train them), got {name!r}"
        )
    return key


def obtain(
    name: str,
    *,
    full_run: bool = False,
    full_dataset: str | None = None,
    seed: int = 0,
    smoke: bool = False,
    device="auto",
    checkpoint_dir=CHECKPOINT_DIR,
    verbose: bool = True,
):
    """The model an earlier notebook trained and saved as ``checkpoint_dir/name.pt``.

    ``name`` is the checkpoint's stem: ``"02_encoder_decoder"``, ``"03_fcn8s"``,
    ``"04_fcn_resnet18"``, ``"05_deeplab_resnet18"``, ``"05_deeplabv3plus_resnet18"`` (``resnet50``
    in a full run). The file is loaded when it records the same recipe (notebook settings, seed,
    ``full_run``); otherwise the model is trained here with that notebook's recipe (and what it
    starts from, e.g. notebook 04's backbone for 05's models, is obtained the same way) and
    saved, unless a file of other settings is there (it is then left as it is). Prints what it
    does. Returns the model in eval mode on the CPU.
    """
    key = _notebook_of(name)
    r = recipe(key, full_run=full_run, full_dataset=full_dataset, seed=seed, smoke=smoke)
    log = print if verbose else (lambda *a, **k: None)
    path = Path(checkpoint_dir) / f"{name}.pt"
    why = f"{path} not found (notebook {key} writes it)"
    if path.is_file():
        try:
            model, saved = checkpoints.load_model(path, map_location="cpu", return_checkpoint=True)
        except Exception as e:  # another format or version: say so and train
            why = f"{path} cannot be read ({type(e).__name__}: {str(e).splitlines()[0]})"
        else:
            if saved.get("recipe") == r.record():
                log(f"{name}: loaded {path} (notebook {key}'s recipe, seed {seed})")
                return model.eval()
            why = f"{path} was trained with other settings or another seed"
    mode = "full-run" if full_run else "CPU"
    log(f"{name}: {why}; training it now with notebook {key}'s {mode} recipe, seed {seed}")
    trained = _TRAINERS[key](r, device, log, checkpoint_dir)
    for stem, model in trained.items():
        target = Path(checkpoint_dir) / f"{stem}.pt"
        if target.exists():  # a file of other settings (perhaps the learner's own): kept
            log(f"  {target} is kept as it is; the model trained here is not saved")
            continue
        engine.save_checkpoint(target, model, image_size=r.image_size, recipe=r.record())
        log(f"  saved {target}")
    return trained[name].cpu().eval()
