"""Browse a classifier's held-out predictions (notebook 01): the picture, and the probability it gives each class.

The probabilities are computed once (``probs``), so moving the slider only updates the image and the bar heights.
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import torch

from .base import FigureController, WidgetView, check_choice, check_integer

SHOW = ("all", "mistakes")
PROB_TOLERANCE = 1e-3  # how far a row of probabilities may sum from 1 (float16/rounded inputs)


def _as_array(name: str, value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return (value.float() if value.dtype == torch.bfloat16 else value).numpy()  # NumPy has no bfloat16
    if isinstance(value, np.ndarray):
        return value
    raise TypeError(f"{name} must be a torch.Tensor or a NumPy array, got {type(value).__name__}")


def check_predictions(images, probs, labels, classes) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Check what :class:`PredictionExplorer` shows and return it as NumPy arrays and a list of names.

    * ``images``: ``(N, height, width)``, or ``(N, 1, height, width)`` (the channel is dropped); finite numbers.
    * ``probs``: ``(N, C)`` probabilities, each row in [0, 1] summing to 1 (within ``PROB_TOLERANCE``, or the
      rounding of a half-precision row). Logits are
      refused with the fix (``torch.softmax(logits, dim=1)``): shown as they are they would read "626%".
    * ``labels``: ``(N,)`` class indices in ``[0, C-1]`` (integers, or floats holding whole numbers). ``(N, 1)`` and
      one-hot ``(N, C)`` labels are refused with the fix (``labels.view(-1)`` / ``labels.argmax(1)``).
    * ``classes``: a list of ``C`` class names (not a single string).
    """
    eps = (torch.finfo(probs.dtype).eps if isinstance(probs, torch.Tensor) and probs.is_floating_point()
           else np.finfo(probs.dtype).eps if isinstance(probs, np.ndarray) and probs.dtype.kind == "f" else 0.0)
    images, probs, labels = _as_array("images", images), _as_array("probs", probs), _as_array("labels", labels)
    if isinstance(classes, str) or not isinstance(classes, (list, tuple)):
        raise TypeError(f"classes must be a list of class names, got {type(classes).__name__} {classes!r:.60}")
    classes = [str(name) for name in classes]
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]  # (N, 1, H, W) -> (N, H, W)
    if images.ndim != 3:
        hint = ""
        if images.ndim == 2 and round(images.shape[1] ** 0.5) ** 2 == images.shape[1]:
            side = round(images.shape[1] ** 0.5)
            hint = f"; flattened images: pass images.reshape(-1, {side}, {side})"
        raise ValueError(f"images must have shape (N, height, width) or (N, 1, height, width), "
                         f"got {tuple(images.shape)}{hint}")
    n = len(images)
    if n == 0 or images.shape[1] == 0 or images.shape[2] == 0:
        raise ValueError(f"images is empty (shape {tuple(images.shape)}): the explorer needs at least one image")
    if images.dtype.kind not in "biuf":
        raise TypeError(f"images must hold real numbers, got dtype {images.dtype}")
    images = images.astype(np.float32)
    if not np.isfinite(images).all():
        raise ValueError("images contain NaN or infinite values")
    if len(classes) == 0:
        raise ValueError("classes is empty: name at least one class")
    c = len(classes)
    if probs.shape != (n, c):
        raise ValueError(f"probs must have shape (N, C) = ({n}, {c}), one row per image and one column per class, "
                         f"got {tuple(probs.shape)}")
    if probs.dtype.kind not in "biuf":
        raise TypeError(f"probs must hold real numbers, got dtype {probs.dtype}")
    probs = probs.astype(np.float64)
    if not np.isfinite(probs).all():
        raise ValueError("probs contain NaN or infinite values")
    sums = probs.sum(1)
    tolerance = max(PROB_TOLERANCE, c * eps)  # a float16 row of 10 classes may be off by ~0.005
    if probs.min() < -tolerance or probs.max() > 1 + tolerance or np.abs(sums - 1).max() > tolerance:
        raise ValueError(f"probs must be probabilities: each row in [0, 1] and summing to 1; got values in "
                         f"[{probs.min():.3g}, {probs.max():.3g}] with row sums in [{sums.min():.3g}, {sums.max():.3g}]. "
                         "If these are a model's outputs (logits), pass torch.softmax(logits, dim=1)")
    if labels.shape != (n,):
        if labels.shape == (n, 1):
            hint = "; pass labels.reshape(-1)"
        elif labels.shape == (n, c):
            hint = "; one-hot labels: pass labels.argmax(1)"
        else:
            hint = ""
        raise ValueError(f"labels must have shape (N,) = ({n},), one class index per image, got "
                         f"{tuple(labels.shape)}{hint}")
    if labels.dtype.kind == "f" and np.isfinite(labels).all() and (labels == np.round(labels)).all():
        labels = labels.astype(np.int64)  # 0.0, 1.0, ... are class indices too
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be integer class indices, got dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() >= c:
        raise ValueError(f"labels must be class indices in [0, {c - 1}] (one per class name), got values in "
                         f"[{labels.min()}, {labels.max()}]")
    return images, probs, labels.astype(np.int64), classes


class PredictionExplorer(FigureController):
    """Left: image number ``index`` of the chosen subset (all, or only the mistakes). Right: ``p(class | image)``."""

    def __init__(self, images: torch.Tensor, probs: torch.Tensor, labels: torch.Tensor, classes: list[str],
                 index: int = 0, show: str = "all"):
        images, probs, labels, classes = check_predictions(images, probs, labels, classes)
        n, c = len(images), len(classes)
        super().__init__(figsize=(8, 3.2))
        self.images, self.probs, self.labels, self.classes = images, probs, labels, classes
        self.predicted = self.probs.argmax(1)
        self.subsets = {"all": np.arange(n), "mistakes": np.flatnonzero(self.predicted != self.labels)}
        self.ax_img, self.ax_bar = self.fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.6]})
        self.picture = self.ax_img.imshow(self.images[0], cmap="gray_r", vmin=self.images.min(), vmax=self.images.max())
        self.ax_img.axis("off")
        self.bars = self.ax_bar.barh(np.arange(c), self.probs[0], color="0.6")
        self.ax_bar.set_yticks(np.arange(c), self.classes)
        self.ax_bar.invert_yaxis()
        self.ax_bar.set_xlim(0, 1)
        self.ax_bar.set_xlabel("p(class | image)")
        self.fig.subplots_adjust(left=0.02, right=0.97, bottom=0.17, top=0.88, wspace=0.45)
        self.animate(self.picture, *self.bars, self.ax_img.title, self.ax_bar.title)
        self.state = {"index": index, "show": show}
        self._validate(self.state)
        self._apply()

    def count(self, show: str | None = None) -> int:
        """How many images the subset holds."""
        return len(self.subsets[show or self.state["show"]])

    def set(self, **changes) -> None:
        if isinstance(changes.get("show"), str) and changes["show"] != self.state["show"] and "index" not in changes:
            changes["index"] = 0  # a new subset starts at its first image
        super().set(**changes)

    def _validate(self, state: dict) -> None:
        check_choice("show", state["show"], SHOW)
        n = self.count(state["show"])
        if n == 0:
            raise ValueError(f"show={state['show']!r}: there are no {state['show']} to show")
        check_integer("index", state["index"], 0, n - 1)

    @property
    def image_number(self) -> int:
        """Position in the whole data set of the image on show."""
        return int(self.subsets[self.state["show"]][self.state["index"]])

    def _apply(self) -> None:
        k = self.image_number
        self.picture.set_data(self.images[k])
        true, pred = self.labels[k], self.predicted[k]
        for j, bar in enumerate(self.bars):
            bar.set_width(self.probs[k, j])
            bar.set_color("C2" if j == true else ("C3" if j == pred else "0.6"))
        verdict = "right" if pred == true else "wrong"
        self.ax_img.set_title(f"#{k}: {self.classes[true]}", fontsize=10, parse_math=False)
        self.ax_bar.set_title(f"predicted {self.classes[pred]} ({self.probs[k, pred]:.0%}) - {verdict}", fontsize=10,
                              color="C2" if verdict == "right" else "C3", parse_math=False)


def prediction_explorer(images, probs, labels, classes, index: int = 0, show: str = "all") -> WidgetView:
    """The widget: a slider over the images, a toggle between all of them and only the mistakes."""
    controller = PredictionExplorer(images, probs, labels, classes, index, show)
    slider = widgets.IntSlider(value=index, min=0, max=controller.count() - 1, description="image")
    toggle = widgets.ToggleButtons(options=list(SHOW), value=show, description="show")
    view = WidgetView(controller, {"show": toggle, "index": slider})

    def resize_slider(change):  # runs after the view's own handler has switched the subset
        slider.max = controller.count() - 1
        slider.value = controller.state["index"]

    toggle.observe(resize_slider, names="value")
    return view
