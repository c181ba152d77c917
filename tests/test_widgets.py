"""Widgets without a browser: drive the controller and the view by setting values, check the image and the artists."""
import base64

import numpy as np
import pytest

from course_lib.widgets import ActivationExplorer, activation_explorer
from course_lib.widgets.activations import activation_and_derivative


def test_derivatives_by_autograd_match_formulas():
    x = np.linspace(-3, 3, 13)
    f, df = activation_and_derivative("sigmoid", x)
    s = 1 / (1 + np.exp(-x))
    assert np.allclose(f, s) and np.allclose(df, s * (1 - s))
    _, df = activation_and_derivative("tanh", x)
    assert np.allclose(df, 1 - np.tanh(x) ** 2)
    _, df = activation_and_derivative("leaky ReLU", np.array([-2.0, 2.0]), leak=0.2)
    assert np.allclose(df, [0.2, 1.0])


def test_controller_updates_artists_and_image():
    c = ActivationExplorer("sigmoid", x0=0.0)
    before = c.png()
    assert before[:8] == b"\x89PNG\r\n\x1a\n"
    assert c.values_at_x0 == pytest.approx((0.5, 0.25))
    line = c.f_line
    c.set(x0=2.0)
    assert c.f_line is line  # the same artist, updated in place
    assert c.values_at_x0[1] == pytest.approx(np.exp(-2) / (1 + np.exp(-2)) ** 2)
    assert c.png() != before
    c.set(name="ReLU")
    assert c.values_at_x0 == pytest.approx((2.0, 1.0))
    assert "ReLU" in c.ax_f.get_title()


def test_controller_refuses_bad_values():
    c = ActivationExplorer()
    with pytest.raises(ValueError, match=r"x0 must be in \[-5.0, 5.0\]"):
        c.set(x0=9)
    with pytest.raises(ValueError, match="name must be one of the activation options"):
        c.set(name="swish")
    with pytest.raises(TypeError, match="unknown setting"):
        c.set(colour="red")
    assert c.state["x0"] == 1.0  # unchanged after a refused update


def test_view_follows_controls_and_shows_errors():
    view = activation_explorer("tanh", x0=0.0)
    first = view.image.value
    view.controls["x0"].value = 1.5
    assert view.image.value != first and view.controller.state["x0"] == 1.5
    assert view.controls["leak"].disabled  # only leaky ReLU has a slope for negative inputs
    view.controls["name"].value = "leaky ReLU"
    assert not view.controls["leak"].disabled
    before_leak = view.image.value
    view.controls["leak"].value = 0.3
    assert view.image.value != before_leak and view.controller.values_at_x0[1] == pytest.approx(1.0)
    view.controls["name"].value = "GELU"
    assert view.controller.state["name"] == "GELU" and view.controls["leak"].disabled
    shown = view.image.value
    assert view.update(x0=42) is False  # out of range: message, no crash, image kept
    assert "x0 must be in" in view.message.value and view.image.value == shown
    assert view.update(x0=0.5) is True and view.message.value == ""


def test_static_png_fallback_in_mimebundle():
    view = activation_explorer()
    bundle = view._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"]) == view.controller.png()


def _predictions():
    import torch

    g = torch.Generator().manual_seed(0)
    images = torch.rand(30, 28, 28, generator=g)
    labels = torch.arange(30) % 3
    probs = torch.softmax(torch.randn(30, 3, generator=g), dim=1)
    return images, probs, labels, ["a", "b", "c"]


def test_prediction_explorer_moves_and_filters():
    from course_lib.widgets import prediction_explorer

    images, probs, labels, classes = _predictions()
    view = prediction_explorer(images, probs, labels, classes)
    c = view.controller
    first = view.image.value
    view.controls["index"].value = 5
    assert c.image_number == 5 and view.image.value != first
    assert np.allclose([b.get_width() for b in c.bars], probs[5].numpy())
    assert np.allclose(c.picture.get_array(), images[5].numpy())
    mistakes = np.flatnonzero(probs.argmax(1).numpy() != labels.numpy())
    view.controls["show"].value = "mistakes"
    assert c.state["index"] == 0 and c.image_number == mistakes[0]
    assert view.controls["index"].max == len(mistakes) - 1
    view.controls["index"].value = len(mistakes) - 1
    assert c.image_number == mistakes[-1]
    assert "wrong" in c.ax_bar.get_title()
    assert view.update(index=len(mistakes)) is False and "index must be an integer in" in view.message.value


def test_prediction_explorer_checks_shapes():
    from course_lib.widgets import PredictionExplorer

    images, probs, labels, classes = _predictions()
    with pytest.raises(ValueError, match="probs"):
        PredictionExplorer(images, probs[:, :2], labels, classes)
    with pytest.raises(ValueError, match="images"):
        PredictionExplorer(images[0], probs, labels, classes)


def test_a_controller_without_animated_artists_redraws_everything():
    from course_lib.widgets import FigureController

    class Dot(FigureController):
        def __init__(self):
            super().__init__(figsize=(2, 1))
            self.ax = self.fig.subplots()
            (self.point,) = self.ax.plot([0], [0], "o")
            self.ax.set_xlim(-1, 11)
            self.state = {"x": 0}
            self._apply()

        def _apply(self):
            self.point.set_data([self.state["x"]], [0])

    dot = Dot()
    first = dot.png()
    dot.set(x=5)
    assert dot.png() != first
