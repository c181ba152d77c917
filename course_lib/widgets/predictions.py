"""Browse a classifier's held-out predictions (notebook 01): the picture, and the probability it gives each class.

The probabilities are computed once (``probs``), so moving the slider only updates the image and the bar heights.
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import torch

from .base import FigureController, WidgetView

SHOW = ("all", "mistakes")


class PredictionExplorer(FigureController):
    """Left: image number ``index`` of the chosen subset (all, or only the mistakes). Right: ``p(class | image)``."""

    def __init__(self, images: torch.Tensor, probs: torch.Tensor, labels: torch.Tensor, classes: list[str],
                 index: int = 0, show: str = "all"):
        if images.ndim != 3:
            raise ValueError(f"images must have shape (N, height, width), got {tuple(images.shape)}")
        n, c = len(images), len(classes)
        if probs.shape != (n, c) or labels.shape != (n,):
            raise ValueError(f"expected probs ({n}, {c}) and labels ({n},), got {tuple(probs.shape)} and "
                             f"{tuple(labels.shape)}")
        super().__init__(figsize=(8, 3.2))
        self.images = images.detach().cpu().float().numpy()
        self.probs = probs.detach().cpu().numpy()
        self.labels = labels.detach().cpu().numpy()
        self.predicted = self.probs.argmax(1)
        self.classes = list(classes)
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
        if "show" in changes and changes["show"] != self.state["show"] and "index" not in changes:
            changes["index"] = 0  # a new subset starts at its first image
        super().set(**changes)

    def _validate(self, state: dict) -> None:
        if state["show"] not in SHOW:
            raise ValueError(f"show must be one of {SHOW}, got {state['show']!r}")
        n = self.count(state["show"])
        if n == 0:
            raise ValueError(f"there are no {state['show']} to show")
        if not (isinstance(state["index"], (int, np.integer)) and 0 <= state["index"] < n):
            raise ValueError(f"index must be an integer in [0, {n - 1}], got {state['index']!r}")

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
        self.ax_img.set_title(f"#{k}: {self.classes[true]}", fontsize=10)
        self.ax_bar.set_title(f"predicted {self.classes[pred]} ({self.probs[k, pred]:.0%}) - {verdict}", fontsize=10,
                              color="C2" if verdict == "right" else "C3")


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
