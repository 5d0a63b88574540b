import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fcnlib.inference import predict, predict_proba
from fcnlib.models import SegmentationModel


class LinearNet(SegmentationModel):
    def __init__(self):
        super().__init__(4)
        torch.manual_seed(0)
        self.classifier = nn.Conv2d(3, 4, 3, padding=1)

    def _forward(self, x):
        return {"out": self.classifier(x)}


def test_plain_predict_is_argmax_of_forward():
    m = LinearNet().eval()
    x = torch.rand(3, 3, 17, 21)
    with torch.no_grad():
        want = m(x).argmax(1)
    assert torch.equal(predict(m, x), want)
    assert torch.equal(predict(m, x, batch_size=2), want)
    assert torch.equal(predict(m, x[0]), want[:1])  # one 3 x H x W image


def test_tta_matches_a_hand_written_average():
    m = LinearNet().eval()
    x = torch.rand(2, 3, 16, 16)
    scales = (1.0, 0.5)
    with torch.no_grad():
        ps = []
        for s in scales:
            xs = (
                F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False)
                if s != 1
                else x
            )
            for flip in (False, True):
                out = m(xs.flip(-1)) if flip else m(xs)
                out = out.flip(-1) if flip else out
                out = F.interpolate(out, size=(16, 16), mode="bilinear", align_corners=False)
                ps.append(out.softmax(1))
        want = torch.stack(ps).mean(0)
    masks, probs = predict(m, x, scales=scales, flip=True, return_probs=True)
    torch.testing.assert_close(probs, want)
    assert torch.equal(masks, want.argmax(1))
    assert torch.allclose(probs.sum(1), torch.ones(2, 16, 16))


def test_flip_of_a_mirror_symmetric_model_changes_nothing():
    m = LinearNet().eval()
    with torch.no_grad():  # make the kernel left-right symmetric
        w = m.classifier.weight
        w.copy_((w + w.flip(-1)) / 2)
    x = torch.rand(1, 3, 12, 12)
    torch.testing.assert_close(predict_proba(m, x, flip=True), predict_proba(m, x))


def test_bad_scales():
    with pytest.raises(ValueError, match="scales"):
        predict(LinearNet(), torch.rand(1, 3, 8, 8), scales=(0.0,))


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P"])
def test_pil_images_are_converted_on_purpose(mode):
    import numpy as np
    from PIL import Image

    from fcnlib.inference import image_to_tensor

    rgb = Image.fromarray((np.arange(4 * 5 * 3) % 256).astype(np.uint8).reshape(4, 5, 3))
    img = rgb.convert(mode)
    t = image_to_tensor(img)
    assert t.shape == (3, 4, 5) and t.dtype == torch.float32 and 0 <= t.min() and t.max() <= 1
    if mode == "RGB" or mode == "RGBA":
        assert torch.allclose(t * 255, torch.from_numpy(np.array(rgb)).permute(2, 0, 1).float())
    if mode == "L":
        assert torch.equal(t[0], t[1]) and torch.equal(t[1], t[2])
    m = predict(LinearNet(), [img, img])
    assert m.shape == (2, 4, 5)


def test_unreadable_image_type():
    from fcnlib.inference import image_to_tensor

    with pytest.raises(TypeError, match="cannot read an image from str"):
        image_to_tensor("photo.jpg")


def test_predict_with_window_is_sliding_window_inference():
    from fcnlib.inference_sliding import sliding_window_predict

    m = LinearNet().eval()
    x = torch.rand(1, 3, 30, 41)
    assert torch.equal(predict(m, x, window=16, stride=8), sliding_window_predict(m, x, 16, 8))
    with pytest.raises(ValueError, match="cannot be combined"):
        predict(m, x, window=16, flip=True)
