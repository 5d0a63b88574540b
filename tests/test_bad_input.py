"""Every place a learner can pass something wrong gets a clear error (or a documented
conversion), never a stack trace from deep inside PyTorch. One test per case."""

import numpy as np
import pytest
import torch
from PIL import Image

from fcnlib import data, engine, metrics, models, transforms, viz
from fcnlib.inference import predict

MODELS = [
    n
    for n in ("perpixel", "allconv", "encoder_decoder", "fcn8s", "fcn_resnet18", "deeplab_resnet18")
    if n in models.available()
]


@pytest.fixture(scope="module")
def shapes():
    return data.ShapesScenes("train", size=6, image_size=32)


# ---------------------------------------------------------------- tensors given to models
@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize(
    "x, err, words",
    [
        (torch.rand(3, 32, 32), ValueError, "unsqueeze"),  # one image without the batch dimension
        (torch.rand(1, 1, 32, 32), ValueError, "1 channels"),  # greyscale
        (torch.rand(1, 4, 32, 32), ValueError, "4 channels"),  # RGBA
        (torch.rand(1, 32, 32, 3), ValueError, "channels first"),  # channels last
        (torch.randint(0, 255, (1, 3, 32, 32), dtype=torch.uint8), TypeError, "float"),  # uint8
        (np.zeros((1, 3, 32, 32), np.float32), TypeError, "torch.Tensor"),  # a NumPy array
    ],
)
def test_models_reject_bad_images(name, x, err, words):
    model = models.build(name, 6).eval()
    with pytest.raises(err, match=words):
        model(x)


@pytest.mark.parametrize("num_classes", [0, -3, 2.5])
def test_models_reject_bad_class_counts(num_classes):
    with pytest.raises(ValueError, match="num_classes"):
        models.build("perpixel", num_classes)


def test_unknown_model_name_lists_the_choices():
    with pytest.raises(ValueError, match="perpixel"):
        models.build("unet", 6)


# ---------------------------------------------------------------- metrics
def test_metrics_label_outside_classes_names_the_value():
    cm = metrics.ConfusionMatrix(6)
    with pytest.raises(ValueError, match=r"\[9\]"):
        cm.update(torch.zeros(1, 2, 2, dtype=torch.long), torch.tensor([[[0, 9], [1, 2]]]))


def test_metrics_mismatched_shapes_and_dtypes():
    cm = metrics.ConfusionMatrix(6)
    with pytest.raises(ValueError, match="shape"):
        cm.update(torch.zeros(2, 4, 4, dtype=torch.long), torch.zeros(2, 4, 5, dtype=torch.long))
    with pytest.raises(TypeError, match="integer class labels"):
        cm.update(torch.zeros(2, 4, 4, dtype=torch.long), torch.zeros(2, 4, 4))
    with pytest.raises(ValueError, match="B x 6 x H x W"):
        cm.update(torch.zeros(2, 5, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long))


# ---------------------------------------------------------------- predict
@pytest.mark.parametrize(
    "images, err, words",
    [
        (torch.rand(32, 32), ValueError, "4 dimensions"),
        (torch.rand(1, 2, 32, 32), ValueError, "2 channels"),
        (torch.zeros(1, 3, 8, 8, dtype=torch.int64), TypeError, "float"),
        ([], ValueError, "empty"),
        ([torch.rand(3, 8, 8), torch.rand(3, 9, 9)], ValueError, "share one shape"),
        ("cat.jpg", TypeError, "cannot read an image"),
    ],
)
def test_predict_rejects_bad_images(images, err, words):
    with pytest.raises(err, match=words):
        predict(models.PerPixelNet(6), images)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "LA"])
def test_predict_converts_pil_modes_on_purpose(mode):
    img = Image.new("RGB", (10, 7), (200, 30, 30)).convert(mode)
    assert predict(models.PerPixelNet(6), img).shape == (1, 7, 10)


# ---------------------------------------------------------------- training
def test_fit_model_and_data_disagree_on_classes(shapes):
    with pytest.raises(ValueError, match="num_classes=6"):
        engine.fit(models.PerPixelNet(21), shapes, epochs=1, progress=False)


def test_fit_batch_larger_than_data(shapes):
    with pytest.raises(ValueError, match="larger than the data set"):
        engine.fit(models.PerPixelNet(6), shapes, epochs=1, batch_size=64, progress=False)


def test_fit_empty_data():
    empty = torch.utils.data.TensorDataset(
        torch.zeros(0, 3, 4, 4), torch.zeros(0, 4, 4, dtype=torch.long)
    )
    with pytest.raises(ValueError, match="empty"):
        engine.fit(models.PerPixelNet(6), empty, epochs=1, progress=False)


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"epochs": 0}, "epochs"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"lr_schedule": "cosine"}, "lr_schedule"),
        ({"scales": (1.0, -0.5)}, "scales"),
    ],
)
def test_fit_bad_options(shapes, kw, words):
    kw = {"epochs": 1, **kw}
    with pytest.raises(ValueError, match=words):
        engine.fit(models.PerPixelNet(6), shapes, batch_size=2, progress=False, **kw)


def test_checkpoint_of_another_class_count(tmp_path):
    engine.save_checkpoint(tmp_path / "m.pt", models.PerPixelNet(6))
    with pytest.raises(ValueError, match="6 classes.*21 classes"):
        engine.load_checkpoint(tmp_path / "m.pt", models.PerPixelNet(21))


def test_checkpoint_that_is_not_one(tmp_path):
    (tmp_path / "notes.pt").write_text("hello")
    with pytest.raises(ValueError, match="notes.pt"):
        engine.load_checkpoint(tmp_path / "notes.pt", models.PerPixelNet(6))


# ---------------------------------------------------------------- data and transforms
def test_transform_image_and_mask_of_different_sizes():
    t = transforms.eval_transforms()
    with pytest.raises(ValueError, match="same size"):
        t(torch.rand(3, 10, 10), torch.zeros(10, 12, dtype=torch.long))


def test_real_loader_names_the_file_and_the_bad_value(tmp_path):
    voc = data.ShapesScenes("val", size=2, image_size=24)
    base = data.export_voc(voc, tmp_path)
    png = sorted((base / "SegmentationClass").glob("*.png"))[1]
    bad = np.array(Image.open(png))
    bad[0, 0] = 40  # VOC has 21 classes; 40 is neither a class nor 255
    out = Image.fromarray(bad, mode="P")
    out.putpalette(Image.open(png).getpalette())
    out.save(png)
    ds = data.get_dataset("voc", root=tmp_path, split="val")
    with pytest.raises(ValueError, match=rf"{png.name}.*40|40.*{png.name}"):
        ds[1]


def test_real_loader_missing_folder_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        data.get_dataset("voc", root=tmp_path / "nowhere", split="train")


def test_viz_rejects_labels_outside_the_palette():
    with pytest.raises(ValueError, match="label 7"):
        viz.colorize(torch.tensor([[7]]), data.PALETTE)


# ---------------------------------------------------------------- widgets and video
def test_mask_explorer_rejects_mismatched_inputs():
    widgets = pytest.importorskip("fcnlib.widgets")
    images = torch.rand(2, 3, 8, 8)
    with pytest.raises(ValueError):
        widgets.MaskExplorer(images, torch.zeros(3, 8, 8, dtype=torch.long))  # 3 masks, 2 images
    with pytest.raises(ValueError):
        widgets.MaskExplorer(torch.rand(2, 4, 8, 8), torch.zeros(2, 8, 8, dtype=torch.long))
    with pytest.raises(ValueError):
        widgets.MaskExplorer(images, torch.full((2, 8, 8), 9, dtype=torch.long))


def test_video_that_is_not_a_video_names_the_file(tmp_path):
    video = pytest.importorskip("fcnlib.video")
    fake = tmp_path / "holiday.mp4"
    fake.write_text("not a video")
    with pytest.raises((ValueError, OSError), match="holiday.mp4"):
        video.remove_objects(
            models.PerPixelNet(6),
            fake,
            tmp_path / "out.mp4",
            remove=["star"],
            classes=data.CLASSES,
            progress=False,
        )
