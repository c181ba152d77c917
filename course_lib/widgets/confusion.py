"""Compare models by their mistakes: a confusion matrix and per-class F1 for each model (notebook 11).

Left: the confusion matrix of the chosen model on the held-out set (row = true class, column = predicted class). The
colour is always the share of each true class (each row sums to 1, the diagonal is the recall), so models tested on
sets of any size look alike; the numbers written in the cells are those shares (``norm="row"``) or the counts
(``norm="count"``). Right: the
model's F1 per class, next to the ``compare`` model's F1 as grey ticks, so "the pruned model loses on shirts" is one
glance. Every matrix is computed once when the widget is made; a change only updates the picture's data and the bars.
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import torch

from ..metrics import confusion_matrix, precision_recall_f1
from .base import FigureController, WidgetView, check_choice

NORMS = ("count", "row")


class ConfusionExplorer(FigureController):
    """``predictions``: ``{model name: (N,) predicted class indices}``, all on the same examples whose true classes
    are ``labels`` ``(N,)``; ``classes``: the C class names."""

    def __init__(self, predictions: dict[str, torch.Tensor], labels: torch.Tensor, classes: list[str],
                 model: str | None = None, compare: str | None = None, norm: str = "row"):
        if not isinstance(predictions, dict) or not predictions:
            raise ValueError("predictions must be a non-empty dict {model name: predicted class indices}")
        if not isinstance(classes, (list, tuple)) or len(classes) < 2 or not all(isinstance(c, str) for c in classes):
            raise TypeError(f"classes must be a list of at least 2 class names, got {classes!r:.60}")
        c = len(classes)
        self.names = list(predictions)
        self.matrices = {name: confusion_matrix(labels, pred, c) for name, pred in predictions.items()}  # checks shapes
        self.scores = {name: precision_recall_f1(cm) for name, cm in self.matrices.items()}
        self.classes = list(classes)
        super().__init__(figsize=(9.5, 4.2), dpi=90)
        self.ax_cm, self.ax_f1 = self.fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1]})
        self.picture = self.ax_cm.imshow(np.zeros((c, c)), cmap="Blues", vmin=0, vmax=1)
        self.colorbar = self.fig.colorbar(self.picture, ax=self.ax_cm, fraction=0.046, pad=0.03)
        self.colorbar.set_label("share of the true class", fontsize=8)
        self.ax_cm.set_xticks(np.arange(c), self.classes, rotation=60, ha="right", fontsize=8)
        self.ax_cm.set_yticks(np.arange(c), self.classes, fontsize=8)
        self.ax_cm.set_xlabel("predicted class")
        self.ax_cm.set_ylabel("true class")
        self.cells = [[self.ax_cm.text(j, i, "", ha="center", va="center", fontsize=6.5) for j in range(c)]
                      for i in range(c)]
        self.bars = self.ax_f1.barh(np.arange(c), np.zeros(c), color="C0")
        self.ticks = self.ax_f1.scatter(np.zeros(c), np.arange(c), marker="|", s=160, color="0.25", zorder=3)
        self.ax_f1.set_yticks(np.arange(c), self.classes, fontsize=8)
        self.ax_f1.invert_yaxis()
        self.ax_f1.set_xlim(0, 1)
        self.ax_f1.set_xlabel("F1 per class (bars: model, ticks: compare)")
        self.fig.subplots_adjust(left=0.1, right=0.96, bottom=0.24, top=0.9, wspace=0.6)
        self.animate(self.picture, *[cell for row in self.cells for cell in row], *self.bars, self.ticks,
                     self.ax_cm.title, self.ax_f1.title)  # everything that changes is blitted over a fixed background
        self.state = {"model": model or self.names[0], "compare": compare or self.names[0], "norm": norm}
        self._validate(self.state)
        self.background_stale = True
        self._apply()

    def _validate(self, state: dict) -> None:
        check_choice("model", state["model"], self.names, "a model given in predictions")
        check_choice("compare", state["compare"], self.names, "a model given in predictions")
        check_choice("norm", state["norm"], NORMS)

    def shares(self) -> np.ndarray:
        """The chosen model's matrix with each row divided by its total (the colours)."""
        cm = self.matrices[self.state["model"]].double()
        return (cm / cm.sum(1, keepdim=True).clamp(min=1)).numpy()

    def _apply(self) -> None:
        shares = self.shares()
        counts = self.matrices[self.state["model"]].numpy()
        self.picture.set_data(shares)
        for i, row in enumerate(self.cells):
            for j, cell in enumerate(row):
                if self.state["norm"] == "row":
                    share = shares[i, j]
                    cell.set_text("" if share < 0.005 else "1" if share >= 0.995 else f"{share:.2f}"[1:])
                else:
                    cell.set_text("" if counts[i, j] == 0 else str(int(counts[i, j])))
                cell.set_color("white" if shares[i, j] > 0.6 else "black")
        f1 = self.scores[self.state["model"]]["f1"].numpy()
        other = self.scores[self.state["compare"]]["f1"].numpy()
        for bar, value in zip(self.bars, f1):
            bar.set_width(value)
        self.ticks.set_offsets(np.column_stack([other, np.arange(len(other))]))
        cm = self.matrices[self.state["model"]]
        accuracy = cm.diagonal().sum().item() / cm.sum().item()
        self.ax_cm.set_title(f"{self.state['model']}: accuracy {accuracy:.2%}", fontsize=10, parse_math=False)
        self.ax_f1.set_title(f"macro F1 {f1.mean():.3f} (compare: {self.state['compare']} {other.mean():.3f})",
                             fontsize=9, parse_math=False)


def confusion_explorer(predictions: dict[str, torch.Tensor], labels: torch.Tensor, classes: list[str],
                       model: str | None = None, compare: str | None = None, norm: str = "row") -> WidgetView:
    """The widget: a dropdown for the model, one for the model to compare with, and counts / row shares."""
    controller = ConfusionExplorer(predictions, labels, classes, model, compare, norm)
    return WidgetView(controller, {
        "model": widgets.Dropdown(options=controller.names, value=controller.state["model"], description="model"),
        "compare": widgets.Dropdown(options=controller.names, value=controller.state["compare"],
                                    description="compare"),
        "norm": widgets.ToggleButtons(options=list(NORMS), value=norm, description="show")})
