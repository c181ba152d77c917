"""The convolution and feature-map explorers (notebook 09), driven without a browser."""
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from course_lib import cnn
from course_lib.widgets import convolution as cw

IMAGE = np.random.default_rng(0).random((12, 15))


def test_the_window_shows_the_output_pixel_it_produces():
    explorer = cw.ConvolutionExplorer(IMAGE, "sharpen", stride=2, padding=1)
    x = torch.from_numpy((IMAGE - IMAGE.min()) / (IMAGE.max() - IMAGE.min()))[None, None]
    w = torch.tensor(cw.KERNELS["sharpen"], dtype=torch.float64)[None, None]
    expected = F.conv2d(x, w, stride=2, padding=1)[0, 0].numpy()
    assert explorer.output_shape() == expected.shape == (cnn.output_size(12, 3, 2, 1), cnn.output_size(15, 3, 2, 1))
    for position in (0, 5, expected.size - 1):
        explorer.set(position=position)
        i, j = divmod(position, expected.shape[1])
        assert explorer.value == pytest.approx(expected[i, j])
        assert explorer.window.get_xy() == (j * 2 - 0.5, i * 2 - 0.5)
    assert explorer.png()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_settings_are_refused_and_rolled_back():
    explorer = cw.ConvolutionExplorer(IMAGE)
    last = explorer.output_shape()[0] * explorer.output_shape()[1] - 1
    with pytest.raises(ValueError, match=rf"position must be an integer in \[0, {last}\]"):
        explorer.set(position=last + 1)
    with pytest.raises(ValueError, match="stride must be an integer in"):
        explorer.set(stride=4)
    with pytest.raises(ValueError, match="did you mean 'identity'"):
        explorer.set(kernel="Identity")
    explorer.set(position=last)
    with pytest.raises(ValueError, match="position must be"):  # stride 3 leaves fewer positions: refused as a pair
        explorer.set(stride=3)
    assert explorer.state["stride"] == 1 and explorer.state["position"] == last


def test_bad_images_are_refused():
    with pytest.raises(ValueError, match=r"one grey picture of shape \(H, W\)"):
        cw.ConvolutionExplorer(np.zeros((8, 8, 3)))
    with pytest.raises(ValueError, match="downsample"):
        cw.ConvolutionExplorer(np.zeros((512, 512)))
    with pytest.raises(ValueError, match="NaN"):
        cw.ConvolutionExplorer(np.full((8, 8), np.nan))
    with pytest.raises(TypeError, match="2-D array or tensor"):
        cw.ConvolutionExplorer("camera.png")
    assert cw.ConvolutionExplorer(torch.rand(1, 8, 8)).image.shape == (8, 8)  # one channel is fine


def test_the_view_keeps_stride_padding_and_position_consistent():
    view = cw.convolution_explorer(IMAGE)
    stride, padding = [w for w in view.box.children[0].children if getattr(w, "description", "") in ("stride",
                                                                                                   "padding")]
    view.controls["position"].value = view.controls["position"].max
    stride.value = 3
    H_out, W_out = view.controller.output_shape()
    assert view.controller.state["stride"] == 3 and view.controls["position"].max == H_out * W_out - 1
    assert view.controller.state["position"] == view.controls["position"].value == H_out * W_out - 1
    padding.value = 0
    assert view.controller.state["padding"] == 0 and view.message.value == ""
    view.close()


def test_feature_map_explorer_shows_the_layers_it_was_given():
    torch.manual_seed(0)
    model = cnn.SmallCNN(channels=4, hidden=8)
    images = torch.rand(3, 1, 28, 28)
    layers = {"conv 1": model.features[0], "pool 2": model.features[5]}
    view = cw.feature_map_explorer(model, images, layers)
    controller = view.controller
    assert controller.maps["conv 1"].shape == (3, 4, 28, 28) and controller.maps["pool 2"].shape == (3, 8, 7, 7)
    with torch.no_grad():
        assert torch.allclose(controller.maps["conv 1"], model.features[0](images))
    layer_menu, channel_slider = view.box.children[0].children[:2]
    channel_slider.value = 3
    layer_menu.value = "pool 2"
    assert controller.state == {"image": 0, "layer": "pool 2", "first_channel": 3}
    channel_slider.value = 7
    layer_menu.value = "conv 1"  # 4 channels: the first shown goes back to 0
    assert controller.state["first_channel"] == 0 and view.message.value == ""
    with pytest.raises(ValueError, match="image must be an integer in"):
        controller.set(image=3)
    view.close()


def test_feature_map_explorer_refuses_what_it_cannot_show():
    model = cnn.SmallCNN(channels=2, hidden=4)
    images = torch.rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match="not submodules"):
        cw.FeatureMapExplorer(model, images, {"alien": torch.nn.Conv2d(1, 1, 3)})
    with pytest.raises(ValueError, match="not feature maps"):
        cw.FeatureMapExplorer(model, images, {"logits": model.classifier[3]})
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        cw.FeatureMapExplorer(model, images[0], {"conv": model.features[0]})
    assert model.training  # the explorer ran the model in eval mode and restored it
