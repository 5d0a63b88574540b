"""The record of a training run: one row per epoch, and its plot."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["History"]


@dataclass
class History:
    """Per-epoch records: ``epoch``, ``train_loss``, ``lr``, ``seconds`` and ``val_*`` metrics."""

    records: list[dict] = field(default_factory=list)

    def append(self, **rec) -> None:
        self.records.append(
            {
                k: (float(v) if isinstance(v, (int, float, np.floating)) else v)
                for k, v in rec.items()
            }
        )

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: str) -> list:
        return [r.get(key, float("nan")) for r in self.records]

    def __getattr__(self, key: str):
        if key.startswith("_") or key == "records":
            raise AttributeError(key)
        if self.records and key in self.records[-1]:
            return self[key]
        raise AttributeError(f"History has no column {key!r}; columns: {self.columns}")

    @property
    def columns(self) -> list[str]:
        return list(self.records[-1]) if self.records else []

    @property
    def last(self) -> dict:
        return dict(self.records[-1]) if self.records else {}

    def to_dict(self) -> dict:
        return {"records": [dict(r) for r in self.records]}

    @classmethod
    def from_dict(cls, d: dict) -> History:
        return cls([dict(r) for r in d.get("records", [])])

    def plot(self, metrics: Sequence[str] = ("train_loss", "val_miou"), ax=None):
        """Training curves: one panel per metric against the epoch."""
        import matplotlib.pyplot as plt

        metrics = [m for m in metrics if m in self.columns]
        if ax is None:
            _, ax = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3), squeeze=False)
            ax = ax[0]
        for a, m in zip(ax, metrics):
            a.plot(self["epoch"], self[m], marker="o")
            a.set_xlabel("epoch")
            a.set_title(m.replace("_", " "))
            a.grid(alpha=0.3)
        return ax

    def __repr__(self) -> str:
        if not self.records:
            return "History(empty)"
        keys = [k for k in self.columns if k != "epoch"]
        lines = ["epoch  " + "  ".join(f"{k:>14}" for k in keys)]
        for r in self.records:
            lines.append(
                f"{int(r['epoch']):5d}  "
                + "  ".join(f"{r.get(k, float('nan')):14.4f}" for k in keys)
            )
        return "\n".join(lines)
