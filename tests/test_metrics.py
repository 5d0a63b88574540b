import numpy as np
import pytest
import torch

from fcnlib.metrics import ConfusionMatrix, boundary_f1


def numpy_confusion(pred, target, k, ignore=255):
    m = np.zeros((k, k), np.int64)
    for p, t in zip(np.ravel(pred), np.ravel(target)):
        if t != ignore:
            m[t, p] += 1
    return m


def numpy_metrics(m):
    tp = np.diag(m).astype(float)
    gt, pr = m.sum(1), m.sum(0)
    union = gt + pr - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
        acc = np.where(gt > 0, tp / gt, np.nan)
    valid = ~np.isnan(iou)
    freq = gt / m.sum()
    return {
        "pixel_accuracy": tp.sum() / m.sum(),
        "mean_accuracy": np.nanmean(acc),
        "iou": iou,
        "miou": iou[valid].mean(),
        "fw_iou": (freq[valid] * iou[valid]).sum(),
    }


def test_against_numpy_oracle_over_several_batches():
    g = torch.Generator().manual_seed(0)
    k = 5
    cm = ConfusionMatrix(k)
    preds, targets = [], []
    for b in range(4):  # batches of different sizes
        t = torch.randint(0, k, (b + 1, 7, 9), generator=g)
        t[t == 4] = torch.where(torch.rand(t[t == 4].shape, generator=g) < 0.5, 4, 255)
        p = torch.randint(0, k, t.shape, generator=g)
        cm.update(p, t)
        preds.append(p.flatten())
        targets.append(t.flatten())
    ref = numpy_confusion(torch.cat(preds).numpy(), torch.cat(targets).numpy(), k)
    np.testing.assert_array_equal(cm.compute()["confusion"].numpy(), ref)
    got, want = cm.compute(), numpy_metrics(ref)
    for key in ("pixel_accuracy", "mean_accuracy", "miou", "fw_iou"):
        assert got[key] == pytest.approx(want[key])
    np.testing.assert_allclose(got["iou"].numpy(), want["iou"], rtol=1e-6)


@pytest.mark.parametrize("ignore", [255, None])
def test_add_predictions_counts_like_update(ignore):
    # the unchecked fast path of evaluate (no host sync) against the checked one and numpy
    g = torch.Generator().manual_seed(1)
    k = 4
    checked, fast = ConfusionMatrix(k, ignore), ConfusionMatrix(k, ignore)
    preds, targets = [], []
    for b in range(3):
        t = torch.randint(0, k, (b + 2, 5, 6), generator=g)
        if ignore is not None:
            t[torch.rand(t.shape, generator=g) < 0.2] = ignore
        p = torch.randint(0, k, t.shape, generator=g)
        checked.update(p, t)
        fast.add_predictions(p, t.to(torch.uint8) if ignore == 255 else t)
        preds.append(p.flatten())
        targets.append(t.flatten())
    got = fast.compute()["confusion"]
    assert got.device.type == "cpu" and got.dtype == torch.int64
    ref = numpy_confusion(torch.cat(preds).numpy(), torch.cat(targets).numpy(), k, ignore)
    np.testing.assert_array_equal(got.numpy(), ref)
    assert torch.equal(got, checked.compute()["confusion"])


def test_dataset_level_not_average_of_batches():
    # batch 1: one pixel of class 1 wrong; batch 2: many pixels of class 1 right
    cm = ConfusionMatrix(2, ignore_index=None)
    cm.update(torch.tensor([[0]]), torch.tensor([[1]]))
    cm.update(torch.ones(1, 3, 3, dtype=torch.long), torch.ones(1, 3, 3, dtype=torch.long))
    iou1 = cm.compute()["iou"][1].item()
    assert iou1 == pytest.approx(9 / 10)  # per-batch averaging would give (0 + 1) / 2


def test_hand_computed_case():
    target = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 255]])
    pred = torch.tensor([[0, 1, 1, 1], [0, 0, 0, 1]])
    r = ConfusionMatrix(2).update(pred, target).compute()
    # class 0: tp 3, fn 1, fp 1 -> IoU 3/5; class 1: tp 2, fn 1, fp 1 -> IoU 2/4
    assert r["iou"].tolist() == pytest.approx([0.6, 0.5])
    assert r["pixel_accuracy"] == pytest.approx(5 / 7)
    assert r["miou"] == pytest.approx(0.55)
    assert r["fw_iou"] == pytest.approx(4 / 7 * 0.6 + 3 / 7 * 0.5)


def test_logits_are_argmaxed():
    logits = torch.zeros(1, 3, 2, 2)
    logits[0, 2] = 1
    r = ConfusionMatrix(3).update(logits, torch.full((1, 2, 2), 2)).compute()
    assert r["pixel_accuracy"] == 1.0


def test_absent_class_is_nan_and_excluded_from_miou():
    r = (
        ConfusionMatrix(3)
        .update(torch.zeros(1, 2, 2, dtype=torch.long), torch.zeros(1, 2, 2, dtype=torch.long))
        .compute()
    )
    assert torch.isnan(r["iou"][1]) and r["miou"] == 1.0


def test_label_outside_classes_is_an_error_naming_the_value():
    cm = ConfusionMatrix(3)
    with pytest.raises(ValueError, match=r"\[7\]"):
        cm.update(torch.zeros(1, 2, 2, dtype=torch.long), torch.tensor([[[0, 7], [1, 2]]]))


def test_reset():
    cm = ConfusionMatrix(2).update(
        torch.zeros(1, 1, 1, dtype=torch.long), torch.zeros(1, 1, 1, dtype=torch.long)
    )
    cm.reset()
    assert cm.mat.sum() == 0


def square(offset=0, size=20, lo=5, hi=15):
    m = torch.zeros(1, size, size, dtype=torch.long)
    m[0, lo + offset : hi + offset, lo:hi] = 1
    return m


def test_boundary_f1_perfect_shifted_and_tolerance():
    t = square()
    assert boundary_f1(t, t) == 1.0
    shifted = square(offset=2)
    assert boundary_f1(shifted, t, tolerance=2) == 1.0
    assert boundary_f1(shifted, t, tolerance=0) < 0.7
    assert boundary_f1(torch.zeros_like(t), t) == 0.0


def test_boundary_f1_hand_computed():
    # a 10x10 square shifted by 3 rows; tolerance 1: only the vertical sides partly match
    t, p = square(), square(offset=3)
    f = boundary_f1(p, t, tolerance=1, ignore_index=None)
    bt = torch.zeros(20, 20, dtype=torch.bool)

    # brute-force oracle in plain Python
    def edges(m):
        m = m[0]
        e = set()
        for y in range(20):
            for x in range(20):
                for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0)):
                    yy, xx = y + dy, x + dx
                    if 0 <= yy < 20 and 0 <= xx < 20 and m[yy, xx] != m[y, x]:
                        e.add((y, x))
        return e

    del bt
    ep, et = edges(p), edges(t)
    near = lambda a, bset: any(max(abs(a[0] - b[0]), abs(a[1] - b[1])) <= 1 for b in bset)  # noqa: E731
    prec = sum(near(a, et) for a in ep) / len(ep)
    rec = sum(near(b, ep) for b in et) / len(et)
    assert f == pytest.approx(2 * prec * rec / (prec + rec))
