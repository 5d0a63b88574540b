import base64
import os
import re
import sys
import types

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from fcnlib import capture, mask_cleanup, metrics, video, video_io, viz
from fcnlib.data import CLASSES, ShapesScenes
from fcnlib.data.clip import make_clip


class Oracle(nn.Module):
    """Returns one-hot logits of a clip's true masks: each input image is matched to the
    nearest clip frame (exact for in-memory frames, robust to video compression)."""

    def __init__(self, clip, num_classes=6):
        super().__init__()
        self.num_classes = num_classes
        self.register_buffer("frames", torch.from_numpy(clip.frames).permute(0, 3, 1, 2) / 255)
        onehot = nn.functional.one_hot(torch.from_numpy(clip.masks), num_classes)
        self.register_buffer("logits", onehot.permute(0, 3, 1, 2).float() * 10)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        d = (x[:, None] - self.frames[None]).abs().mean((2, 3, 4))
        return self.logits[d.argmin(1)]


@pytest.fixture(scope="module")
def clip():
    return make_clip(24, 64, labels=["circle", "square", "star"], seed=3)


@pytest.fixture
def oracle(clip):
    return Oracle(clip)


def err_on(frames, background, region):
    """Mean absolute error (0..255) against the clean background inside ``region``."""
    diff = np.abs(frames.astype(np.int32) - background[None].astype(np.int32)).mean(-1)
    return float(diff[region].mean())


# ----------------------------------------------------------------------------- the clip
def test_make_clip_moves_shapes_over_a_static_background(clip):
    t, h, w = clip.masks.shape
    assert clip.frames.shape == (t, h, w, 3) and clip.frames.dtype == np.uint8
    assert clip.background.shape == (h, w, 3)
    assert set(np.unique(clip.masks)) == {0, 1, 2, 4}
    # background pixels are the clean background plus noise (sigma 0.02 -> ~5 levels)
    bg = clip.masks == 0
    assert err_on(clip.frames, clip.background, bg) < 6
    # objects are not the background, and they move
    assert err_on(clip.frames, clip.background, clip.masks == 1) > 20
    assert (clip.masks[0] != clip.masks[-1]).mean() > 0.05
    # deterministic
    again = make_clip(24, 64, labels=["circle", "square", "star"], seed=3)
    assert np.array_equal(again.frames, clip.frames)


def test_make_clip_can_reuse_a_background(clip):
    other = make_clip(6, labels=["bar"], seed=9, background=clip.background)
    assert np.array_equal(other.background, clip.background)
    assert err_on(other.frames, clip.background, other.masks == 0) < 6
    assert set(np.unique(other.masks)) == {0, 5}


def test_segment_returns_the_oracle_labels_for_any_batch_size(clip, oracle):
    for bs in (1, 5, 64):
        labels = video.segment(oracle, clip, batch_size=bs, progress=False)
        assert labels.shape == clip.masks.shape and np.array_equal(labels, clip.masks)


def test_make_clip_rejects_bad_labels():
    with pytest.raises(ValueError, match="valid names are background, circle"):
        make_clip(4, 32, labels=["circle", "hexagon"])
    with pytest.raises(ValueError, match="background"):
        make_clip(4, 32, labels=[0])


# ----------------------------------------------------------------------------- end to end
@pytest.mark.parametrize("ext", [".mp4", ".avi", ".mkv"])
def test_output_keeps_frame_count_size_and_fps(clip, oracle, tmp_path, ext):
    out = tmp_path / f"out{ext}"
    r = video.remove_objects(
        oracle, clip, out, remove=["circle"], classes=CLASSES, progress=False, return_frames=True
    )
    assert r.destination == out and out.exists()
    info = video_io.video_info(out)
    assert info["num_frames"] == len(clip) == r.num_frames
    assert info["size"] == clip.frames.shape[1:3]
    assert info["fps"] == pytest.approx(clip.fps)
    frames, fps = video_io.read_video(out)
    assert frames.shape == clip.frames.shape and fps == pytest.approx(clip.fps)
    if ext == ".mkv":  # lossless FFV1: the file holds exactly the frames computed
        assert np.array_equal(frames, r.frames)
    else:  # lossy codecs: close
        assert np.abs(frames.astype(int) - r.frames).mean() < 6
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left


def test_background_mode_fills_from_the_clean_background(clip, oracle):
    circle = clip.masks == 1
    results = {
        mode: video.remove_objects(
            oracle, clip, None, remove="circle", mode=mode, classes=CLASSES, progress=False,
            plate_avoid=["square", "star"],
        )
        for mode in video.MODES
    }  # fmt: skip
    errs = {m: err_on(r.frames, clip.background, circle) for m, r in results.items()}
    before = err_on(clip.frames, clip.background, circle)
    # the plate is the clean background up to the noise that the median mostly averages out
    assert errs["background"] < 3, errs
    assert errs["background"] < errs["blur"] < before
    assert errs["blank"] > 20
    plate = results["background"].plate
    assert results["background"].plate_known.all()
    assert np.abs(plate.astype(int) - clip.background).mean() < 2
    # without plate_avoid the kept moving shapes leak into the median, but it still beats blur
    plain = video.remove_objects(
        oracle, clip, None, remove="circle", mode="background", classes=CLASSES, progress=False
    )
    assert errs["background"] <= err_on(plain.frames, clip.background, circle) < errs["blur"]


def test_blank_fills_with_the_colour_and_kept_classes_are_untouched(clip, oracle):
    r = video.remove_objects(
        oracle, clip, None, remove=["circle"], fill=(255, 0, 255), classes=CLASSES,
        progress=False, dilate=0, feather=0, clean=False,
    )  # fmt: skip
    circle = clip.masks == 1
    assert np.array_equal(r.masks, circle)
    assert (r.frames[circle] == [255, 0, 255]).all()
    assert np.array_equal(r.frames[~circle], clip.frames[~circle])
    # default clean-up (temporal majority follows the motion), dilation and feathering change
    # only a band a few pixels wide around the circle
    r = video.remove_objects(oracle, clip, None, remove=["circle"], classes=CLASSES, progress=False)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (13, 13))
    near = np.stack([cv2.dilate(m.astype(np.uint8), k).astype(bool) for m in circle])
    kept = (clip.masks >= 2) & ~near
    assert kept.sum() > 1000
    assert np.array_equal(r.frames[kept], clip.frames[kept])
    assert np.array_equal(r.frames[~near], clip.frames[~near])


def test_keep_is_the_complement_and_indices_equal_names(clip, oracle):
    kw = dict(classes=CLASSES, progress=False)
    by_name = video.remove_objects(oracle, clip, None, remove=["circle", "star"], **kw)
    by_index = video.remove_objects(oracle, clip, None, remove=[4, 1], **kw)
    by_keep = video.remove_objects(
        oracle, clip, None, keep=["background", "square", "triangle", "bar"], **kw
    )
    assert by_name.removed == ["circle", "star"] == by_keep.removed
    assert np.array_equal(by_name.frames, by_index.frames)
    assert np.array_equal(by_name.frames, by_keep.frames)


def test_sources_file_array_list_generator_and_tensor_agree(clip, oracle, tmp_path):
    kw = dict(remove=["square"], classes=CLASSES, progress=False, clean=False, dilate=0)
    ref = video.remove_objects(oracle, clip.frames, None, fps=clip.fps, **kw)
    assert ref.fps == clip.fps and np.array_equal(ref.labels, clip.masks)
    as_list = video.remove_objects(oracle, list(clip.frames), None, batch_size=5, **kw)
    as_gen = video.remove_objects(oracle, (f for f in clip.frames), None, batch_size=1, **kw)
    as_float = video.remove_objects(oracle, torch.from_numpy(clip.frames).permute(0, 3, 1, 2) / 255, None, **kw)  # fmt: skip
    for r in (as_list, as_gen, as_float):
        assert np.array_equal(r.frames, ref.frames)
    path = video_io.write_video(tmp_path / "clip.mkv", clip.frames, fps=clip.fps)
    from_file = video.remove_objects(oracle, path, tmp_path / "out.mp4", **kw)
    assert np.array_equal(from_file.labels, clip.masks)  # the lossless file matched every frame
    assert from_file.fps == clip.fps and from_file.num_frames == len(clip)


def test_model_size_resizes_the_model_input_not_the_masks(clip):
    seen = []

    class Sizer(nn.Module):
        num_classes = 6

        def forward(self, x):
            seen.append(tuple(x.shape[-2:]))
            out = torch.zeros(x.shape[0], 6, *x.shape[-2:])
            out[:, 1, : x.shape[-2] // 2] = 1  # top half: circle
            out[:, 0, x.shape[-2] // 2 :] = 1  # bottom half: background
            return {"out": out}  # torchvision-style dict output

    r = video.remove_objects(Sizer(), clip, None, remove=[1], model_size=32, progress=False)
    assert set(seen) == {(32, 32)}
    assert r.labels.shape == clip.masks.shape
    assert (r.labels[:, :32] == 1).all() and (r.labels[:, 32:] == 0).all()


# ----------------------------------------------------------------------------- clean-up
def iou_stack(a, b):
    return np.mean([metrics.mask_iou(x, y) for x, y in zip(a, b)])


def test_clean_masks_raise_iou_of_noisy_masks(clip):
    truth = clip.masks > 0
    rng = np.random.default_rng(0)
    noisy = truth ^ (rng.random(truth.shape) < 0.04)  # salt and pepper: specks and holes
    cleaned = mask_cleanup.clean_masks(noisy)
    before, after = iou_stack(noisy, truth), iou_stack(cleaned, truth)
    assert 1 - after < (1 - before) / 3, (before, after)  # most of the IoU lost is recovered
    assert after > 0.9
    assert (
        iou_stack(mask_cleanup.clean_masks(truth), truth) > 0.999
    )  # little to clean, little changed


def test_temporal_majority_repairs_dropped_frames():
    slow = make_clip(24, 64, labels=["circle", "square", "star"], seed=3, travel=0.3)
    truth = slow.masks > 0
    noisy = truth.copy()
    noisy[[3, 8, 13, 18]] = False  # frames where the model missed everything
    noisy[10] |= np.roll(truth[10], 20, axis=1)  # a frame with a ghost
    cleaned = mask_cleanup.clean_masks(noisy, temporal=1)
    before, after = iou_stack(noisy, truth), iou_stack(cleaned, truth)
    assert after > before + 0.05, (before, after)
    assert min(metrics.mask_iou(cleaned[t], truth[t]) for t in (3, 8, 10, 13, 18)) > 0.8


def test_morphology_closes_a_crack():
    square = np.zeros((30, 30), bool)
    square[5:25, 5:25] = True
    m = square.copy()
    m[8:22, 15] = False  # a one-pixel crack
    m[2, 2] = True  # a speck
    out = mask_cleanup.clean_mask(m, kernel=3, min_area=0)
    assert out[8:22, 15].all() and not out[2, 2]
    assert (out ^ square).sum() <= 4  # the opening rounds off the four corners


def test_edge_aware_refinement_raises_iou_of_coarse_masks():
    ds = ShapesScenes("val", 40, 96, seed=5)
    before, after = [], []
    for i in range(len(ds)):
        s = ds.scene(i)
        truth = s.mask > 0
        small = cv2.resize(truth.astype(np.float32), (12, 12), interpolation=cv2.INTER_AREA)
        coarse = cv2.resize(small, (96, 96), interpolation=cv2.INTER_LINEAR) > 0.5
        image = (s.image * 255).round().astype(np.uint8)
        refined = mask_cleanup.clean_mask(coarse, image, kernel=0, min_area=0, refine=True)
        if coarse.any():  # scenes whose objects survive the 8x downsampling
            before.append(metrics.mask_iou(coarse, truth))
            after.append(metrics.mask_iou(refined, truth))
    before, after = np.array(before), np.array(after)
    assert len(before) >= 20
    assert after.mean() > before.mean() + 0.01, (before.mean(), after.mean())
    assert (after > before).mean() >= 0.8


def test_guided_filter_with_a_flat_guide_is_a_double_box_filter():
    rng = np.random.default_rng(1)
    p = rng.random((20, 24)).astype(np.float32)
    flat = np.full((20, 24, 3), 0.5, np.float32)
    out = mask_cleanup.guided_filter(flat, p, radius=2, eps=1e-3)
    box = lambda x: cv2.blur(x, (5, 5), borderType=cv2.BORDER_REFLECT)  # noqa: E731
    np.testing.assert_allclose(out, box(box(p)), atol=1e-5)
    # a step edge in the guide keeps a step edge in the output
    guide = np.zeros((20, 24, 3), np.float32)
    guide[:, 12:] = 1
    step = mask_cleanup.guided_filter(guide, guide[..., 0] * 0.8 + 0.1, radius=3, eps=1e-4)
    np.testing.assert_allclose(step, guide[..., 0] * 0.8 + 0.1, atol=1e-2)


def test_temporal_majority_matches_a_loop():
    rng = np.random.default_rng(2)
    m = rng.random((7, 5, 6)) < 0.5
    got = mask_cleanup.temporal_majority(m, radius=2)
    for t in range(7):
        window = m[max(0, t - 2) : t + 3]
        assert np.array_equal(got[t], window.sum(0) * 2 > len(window))


def test_clean_mask_removes_small_components_and_holes():
    m = np.zeros((40, 40), bool)
    m[5:25, 5:25] = True
    m[12:14, 12:14] = False  # a 4-pixel hole
    m[32:34, 32:34] = True  # a 4-pixel speck
    out = mask_cleanup.clean_mask(m, kernel=0, min_area=10)
    expected = np.zeros((40, 40), bool)
    expected[5:25, 5:25] = True
    assert np.array_equal(out, expected)


def test_masked_median_matches_nanmedian():
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, (9, 6, 7, 3), dtype=np.uint8)
    covered = rng.random((9, 6, 7)) < 0.4
    covered[:, 0, 0] = True  # never seen
    plate, n = video.masked_median(frames, covered)
    f = frames.astype(float)
    f[covered] = np.nan
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        ref = np.nanmedian(f, axis=0)
    seen = n > 0
    assert np.array_equal(n, (~covered).sum(0))
    assert np.abs(plate[seen] - ref[seen]).max() <= 0.5
    plate, known = video.estimate_background(frames, covered)
    assert not known[0, 0] and known.sum() == seen.sum()


# ----------------------------------------------------------------------------- bad input
def test_not_a_video_names_the_file(oracle, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(ValueError, match=re.escape(str(text))):
        video.remove_objects(oracle, text, None, remove=["circle"], classes=CLASSES)
    missing = tmp_path / "missing.mp4"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        video.remove_objects(oracle, missing, None, remove=["circle"], classes=CLASSES)
    png = tmp_path / "still.png"
    cv2.imwrite(str(png), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="still image"):
        video_io.read_video(png)
    assert oracle.calls == 0


def test_unknown_class_lists_valid_names(clip, oracle):
    with pytest.raises(ValueError, match="'hexagon'.*background, circle, square"):
        video.remove_objects(oracle, clip, None, remove=["hexagon"], classes=CLASSES)
    with pytest.raises(ValueError, match="index 9"):
        video.remove_objects(oracle, clip, None, remove=[9], classes=CLASSES)
    with pytest.raises(ValueError, match="pass classes="):
        video.remove_objects(oracle, clip, None, remove=["circle"])
    with pytest.raises(ValueError, match="exactly one"):
        video.remove_objects(oracle, clip, None, remove=[1], keep=[0])
    with pytest.raises(ValueError, match="mode"):
        video.remove_objects(oracle, clip, None, remove=[1], mode="erase")
    assert oracle.calls == 0


def test_unwritable_destination_fails_before_any_work(clip, oracle, tmp_path):
    bad = [
        (tmp_path / "no" / "such" / "folder.mp4", FileNotFoundError),
        (tmp_path, IsADirectoryError),
        (tmp_path / "out.xyz", ValueError),
    ]
    if os.geteuid() != 0:  # root may write anywhere
        ro = tmp_path / "readonly"
        ro.mkdir()
        ro.chmod(0o500)
        bad.append((ro / "out.mp4", PermissionError))
    for dest, err in bad:
        with pytest.raises(err, match=re.escape(str(dest))):
            video.remove_objects(oracle, clip, dest, remove=["circle"], classes=CLASSES)
    src = video_io.write_video(tmp_path / "in.mkv", clip.frames, clip.fps)
    with pytest.raises(ValueError, match="is the source"):
        video.remove_objects(oracle, src, src, remove=["circle"], classes=CLASSES)
    odd = clip.frames[:, :63]
    with pytest.raises(ValueError, match="even width and height"):
        video.remove_objects(oracle, odd, tmp_path / "odd.mp4", remove=[1], classes=CLASSES)
    assert oracle.calls == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv"] + (
        ["readonly"] if os.geteuid() != 0 else []
    )


def test_class_count_mismatch_is_a_clear_error(clip):
    four = Oracle(clip, num_classes=6)
    four.num_classes = 4
    with pytest.raises(ValueError, match="model predicts 4 classes but classes= lists 6"):
        video.remove_objects(four, clip, None, remove=["circle"], classes=CLASSES)

    class NoAttr(nn.Module):  # a plain module: its class count shows only in its output
        def forward(self, x):
            return torch.zeros(x.shape[0], 4, *x.shape[-2:])

    with pytest.raises(ValueError, match="returned 4 class scores but 6"):
        video.remove_objects(NoAttr(), clip, None, remove=["circle"], classes=CLASSES)


# ----------------------------------------------------------------------------- webcam
class FakeCamera:
    def __init__(self, index, frames=3, opened=True):
        self.left, self.opened = frames, opened

    def isOpened(self):
        return self.opened

    def read(self):
        if self.left == 0:
            return False, None
        self.left -= 1
        return True, np.full((48, 64, 3), (10, 20, 30), np.uint8)  # BGR

    def get(self, prop):
        return 30.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self):
        pass


def test_webcam_without_camera_falls_back_to_a_generated_clip(monkeypatch, capsys):
    monkeypatch.setattr(cv2, "VideoCapture", lambda i: FakeCamera(i, opened=False))
    cap = capture.webcam_frames(n=5, image_size=32, labels=["star"])
    assert cap.kind == "generated" and len(cap) == 5 and cap.clip is not None
    assert cap.frames[0].shape == (32, 32, 3) and set(np.unique(cap.clip.masks)) == {0, 4}
    assert "no camera found" in capsys.readouterr().out
    assert np.array_equal(np.stack(cap.frames), cap.clip.frames)
    with pytest.raises(RuntimeError, match="no camera found"):
        capture.webcam_frames(n=5, fallback=False)


def test_webcam_reads_a_local_camera_as_rgb(monkeypatch):
    monkeypatch.setattr(cv2, "VideoCapture", lambda i: FakeCamera(i, frames=10))
    cap = capture.webcam_frames(n=4)
    assert cap.kind == "camera" and len(cap) == 4 and cap.fps == 30
    assert tuple(cap.frames[0][0, 0]) == (30, 20, 10)  # BGR -> RGB


def test_webcam_on_colab_uses_javascript_snapshots(monkeypatch):
    bgr = np.zeros((16, 16, 3), np.uint8)
    bgr[..., 2] = 200  # red in BGR
    url = "data:image/png;base64," + base64.b64encode(cv2.imencode(".png", bgr)[1]).decode()
    calls = []
    output = types.SimpleNamespace(eval_js=lambda js: calls.append(js) or [url] * 3)
    colab = types.ModuleType("google.colab")
    colab.output = output
    google = types.ModuleType("google")
    google.colab = colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    cap = capture.webcam_frames(n=3)
    assert cap.kind == "colab" and len(cap) == 3
    assert calls and calls[0].startswith("fcnlibCapture(3,")
    assert tuple(cap.frames[0][0, 0]) == (200, 0, 0)


# ----------------------------------------------------------------------------- showing
def test_animation_html_has_one_frame_per_video_frame(clip):
    html = viz.animation_html([clip.frames[:5], clip.frames[:5]], titles=["a", "b"]).data
    if "<video" not in html:  # matplotlib's JavaScript player: one JPEG per frame
        assert len(re.findall(r"frames\[\d+\] = \"data:image/jpeg", html)) == 5
    with pytest.raises(ValueError, match="different frame counts"):
        viz.animate([clip.frames[:5], clip.frames[:4]])
    fig = viz.show_frames([clip.frames, clip.frames], titles=["a", "b"], indices=[0, 3])
    assert len(fig.axes) == 4
