import numpy as np
import torch
from PIL import Image
from torchvision.datasets import VOCSegmentation

from fcnlib.data import ShapesScenes, export_voc


def test_export_is_read_back_by_torchvision(tmp_path):
    ds = ShapesScenes("val", size=4, image_size=(40, 56), ignore_boundary=1)
    base = export_voc(ds, tmp_path)
    assert base == tmp_path / "VOCdevkit" / "VOC2012"
    ids = (base / "ImageSets" / "Segmentation" / "val.txt").read_text().split()
    assert len(ids) == 4
    tv = VOCSegmentation(str(tmp_path), year="2012", image_set="val", download=False)
    assert len(tv) == 4
    img, mask = tv[2]
    assert mask.mode == "P" and img.size == (56, 40)
    np.testing.assert_array_equal(np.array(mask), ds[2][1].numpy())  # labels exact, 255 kept
    pal = np.array(mask.getpalette()[: 3 * 6]).reshape(6, 3)
    np.testing.assert_array_equal(pal, ds.palette)
    x = torch.from_numpy(np.array(img)).permute(2, 0, 1).float() / 255
    assert (x - ds[2][0]).abs().mean() < 0.05  # JPEG is lossy, but close
    assert Image.open(base / "SegmentationClass" / f"{ids[0]}.png").mode == "P"
