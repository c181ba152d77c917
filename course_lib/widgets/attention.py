"""The attention explorer: one widget for every attention map of the course (notebooks 05–08).

It shows a weights array ``(layers, heads, T_q, T_k)`` (05's decoder has one layer and one head):

* top: the query × key heat map, keys along the x axis, queries down the y axis, with the selected query's row framed;
* bottom: the selected query's row drawn as bars onto the same keys, with the key it weights most named;
* controls: a step slider (with Play) that selects the query — for a decoder, ``reveal=True`` shows only the rows
  produced so far, so Play walks through the decoder writing its output — and layer/head selectors where there is
  more than one. With a ``compute`` function (text -> labels and weights), a text box runs the model on a new input.

Everything shown is precomputed; moving the step only updates the frame, the bars, the revealed rows and the title
(blitted), and a new layer/head only swaps the image data. Only a new text runs the model again.
"""
from __future__ import annotations

import numbers
from typing import Callable

import ipywidgets as widgets
import numpy as np
from matplotlib.patches import Rectangle

from .base import FigureController, WidgetView

Computed = tuple[list[str], list[str], np.ndarray]
MAX_TOKENS = 64  # longest query or key axis the explorer draws legibly


def check_weights(query_labels, key_labels, weights) -> np.ndarray:
    """Validate an attention map for the explorer; return it as a float array ``(layers, heads, T_q, T_k)``.

    A 2-D ``(T_q, T_k)`` array is read as one layer and one head. Every row must be a distribution over the keys
    (non-negative, summing to 1), since that is what attention weights are.
    """
    try:
        w = np.asarray(weights.detach().cpu() if hasattr(weights, "detach") else weights, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"weights must be a numeric array or tensor, got {type(weights).__name__}") from exc
    if w.ndim == 2:
        w = w[None, None]
    if w.ndim != 4:
        raise ValueError(f"weights must have shape (layers, heads, T_q, T_k) or (T_q, T_k), got {w.shape}")
    if 0 in w.shape:
        raise ValueError(f"weights is empty: shape {w.shape}")
    T_q, T_k = w.shape[2:]
    if len(query_labels) != T_q or len(key_labels) != T_k:
        raise ValueError(f"labels do not match the weights: {len(query_labels)} query and {len(key_labels)} key "
                         f"labels for weights of shape {w.shape} (T_q = {T_q}, T_k = {T_k})")
    if max(T_q, T_k) > MAX_TOKENS:
        raise ValueError(f"the explorer draws at most {MAX_TOKENS} queries and keys, got T_q = {T_q}, T_k = {T_k}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("weights must be finite and non-negative (attention weights, after the softmax)")
    sums = w.sum(-1)
    if not np.allclose(sums, 1.0, atol=1e-3):
        raise ValueError(f"every row of weights must sum to 1 over the keys (they are softmax outputs); row sums "
                         f"range from {sums.min():.3f} to {sums.max():.3f}. Pass the weights, not the scores")
    return w


def _plural(word: str) -> str:
    return word[:-1] + "ies" if word.endswith("y") else word + "s"


class AttentionMap(FigureController):
    """Heat map of one layer/head, the selected query's row as bars, a step that walks the queries."""

    def __init__(self, query_labels, key_labels, weights, *, step: int = 0, layer: int = 0, head: int = 0,
                 reveal: bool = False, compute: Callable[[str], Computed] | None = None, text: str = "",
                 query_name: str = "query", key_name: str = "key"):
        self.compute, self.reveal = compute, reveal
        self.query_name, self.key_name = query_name, key_name
        # what each input text shows: (query labels, key labels, weights); the current text's entry is used
        self._data = {text: (list(map(str, query_labels)), list(map(str, key_labels)),
                             check_weights(query_labels, key_labels, weights))}
        self.query_labels, self.key_labels, self.weights = self._data[text]
        super().__init__(figsize=(9, 5.2), dpi=80)
        grid = self.fig.add_gridspec(2, 2, height_ratios=[2.2, 1], width_ratios=[40, 1], left=0.12, right=0.92,
                                     top=0.9, bottom=0.1, hspace=0.35, wspace=0.03)
        self.ax_map = self.fig.add_subplot(grid[0, 0])
        self.ax_bar = self.fig.add_subplot(grid[1, 0], sharex=self.ax_map)
        cax = self.fig.add_subplot(grid[0, 1])
        self.image = self.ax_map.imshow(np.zeros((1, 1)), cmap="viridis", vmin=0, vmax=1, aspect="auto",
                                        interpolation="nearest")
        self.fig.colorbar(self.image, cax=cax, label="weight")
        self.frame = Rectangle((-0.5, -0.5), 1, 1, fill=False, edgecolor="red", lw=2)
        self.ax_map.add_patch(self.frame)
        self.ax_bar.set_ylim(0, 1)
        self.ax_bar.set_ylabel("weight")
        self.title = self.fig.text(0.12, 0.95, "", fontsize=11, family="monospace")
        self.bars = None
        self.state = {"text": text, "step": step, "layer": layer, "head": head}
        self._shown = None  # (labels id, layer, head) currently drawn in the background
        self._validate(self.state)
        self._apply()

    # -- data ------------------------------------------------------------------------------------------------------
    def _validate(self, state: dict) -> None:
        for name in ("step", "layer", "head"):
            if isinstance(state[name], (bool, np.bool_)) or not isinstance(state[name], numbers.Integral):
                raise TypeError(f"{name} must be an integer, got {type(state[name]).__name__}")
        text = state["text"]
        if text not in self._data:
            if self.compute is None:
                raise ValueError("this explorer shows a fixed input; it has no model to run on new text")
            if not isinstance(text, str):
                raise TypeError(f"text must be a string, got {type(text).__name__}")
            labels_q, labels_k, w = self.compute(text)  # raises ValueError with a message for a bad text
            entry = (list(map(str, labels_q)), list(map(str, labels_k)), check_weights(labels_q, labels_k, w))
            current = self.state.get("text")
            self._data = {k: v for k, v in self._data.items() if k == current}  # keep the shown one and the new one
            self._data[text] = entry
        L, H, T_q, _ = self._data[text][2].shape
        for name, n in (("step", T_q), ("layer", L), ("head", H)):
            if not 0 <= state[name] < n:
                raise ValueError(f"{name} must be in [0, {n - 1}], got {state[name]}")

    def set(self, **changes) -> None:
        if "text" in changes and "step" not in changes and changes["text"] != self.state["text"]:
            changes["step"] = 0  # a new input starts at its first output
        super().set(**changes)

    # -- drawing ---------------------------------------------------------------------------------------------------
    def _forget_drawn(self) -> None:
        self._shown = None  # after a roll-back, rebuild the axes and bars for the restored input
    def _apply(self) -> None:
        self.query_labels, self.key_labels, self.weights = self._data[self.state["text"]]
        layer, head, step = self.state["layer"], self.state["head"], self.state["step"]
        if self._shown != (id(self.weights), layer, head):
            self._redraw_background(layer, head)
        w = self.weights[layer, head]  # (T_q, T_k)
        shown = np.ma.masked_array(w, mask=np.zeros_like(w, dtype=bool))
        if self.reveal:
            shown.mask[step + 1 :] = True  # rows the decoder has not produced yet
        self.image.set_data(shown)
        self.frame.set_y(step - 0.5)
        for bar, value in zip(self.bars, w[step]):
            bar.set_height(value)
        best = int(w[step].argmax())
        where = f" layer {layer}, head {head}," if self.weights.shape[:2] != (1, 1) else ""
        self.title.set_text(f"{where} {self.query_name} {step} {self.query_labels[step]!r} attends most to "
                            f"{self.key_name} {best} {self.key_labels[best]!r} ({w[step, best]:.2f})".strip())

    def _redraw_background(self, layer: int, head: int) -> None:
        """A new input, layer or head: axes, labels and bars are rebuilt (the slow path)."""
        T_q, T_k = self.weights.shape[2:]
        show = lambda labels: [{" ": "␣", "\n": "⏎"}.get(t, t) for t in labels]  # noqa: E731
        self.image.set_extent((-0.5, T_k - 0.5, T_q - 0.5, -0.5))
        self.ax_map.set_xlim(-0.5, T_k - 0.5)
        self.ax_map.set_ylim(T_q - 0.5, -0.5)
        self.ax_map.set_yticks(range(T_q), show(self.query_labels), fontsize=9, family="monospace")
        self.ax_map.set_ylabel(_plural(self.query_name))
        self.ax_map.tick_params(axis="x", labelbottom=False)
        self.frame.set_width(T_k)
        for patch in list(self.ax_bar.patches):  # the previous input's bars
            patch.remove()
        self.bars = self.ax_bar.bar(range(T_k), np.zeros(T_k), color="C1", width=0.8)
        self.ax_bar.set_xticks(range(T_k), show(self.key_labels), fontsize=9, family="monospace")
        self.ax_bar.set_xlabel(_plural(self.key_name))
        # a new list (never changed in place: a refused value rolls the controller back to a shallow copy)
        self.animated = []
        self.animate(self.image, self.frame, self.title, *self.bars)
        self._shown = (id(self.weights), layer, head)
        self.background_stale = True


def attention_explorer(query_labels, key_labels, weights, *, reveal: bool = False,
                       compute: Callable[[str], Computed] | None = None, text: str = "",
                       query_name: str = "query", key_name: str = "key", play_interval: int = 600) -> WidgetView:
    """The widget. ``weights (layers, heads, T_q, T_k)`` or ``(T_q, T_k)``; ``reveal=True`` for a decoder (rows appear
    as the step advances); ``compute(text) -> (query_labels, key_labels, weights)`` adds a text box (Enter runs it;
    a ``ValueError`` it raises is shown as a message)."""
    controller = AttentionMap(query_labels, key_labels, weights, reveal=reveal, compute=compute, text=text,
                              query_name=query_name, key_name=key_name)
    L, H, T_q, _ = controller.weights.shape
    step = widgets.IntSlider(value=0, min=0, max=T_q - 1, description="step")
    play = widgets.Play(value=0, min=0, max=T_q - 1, interval=play_interval, description="play")
    link = widgets.jslink((play, "value"), (step, "value"))
    controls: dict = {"step": step}
    if compute is not None:
        controls = {"text": widgets.Text(value=text, description="input", continuous_update=False,
                                         placeholder="type and press Enter"), **controls}
    if L > 1:
        controls["layer"] = widgets.Dropdown(options=list(range(L)), value=0, description="layer")
    if H > 1:
        controls["head"] = widgets.Dropdown(options=list(range(H)), value=0, description="head")
    view = WidgetView(controller, controls, extras=[play])
    view.own(link)  # the link is a widget of its own: close it with the view

    def resize_step(change):  # after the view's own handler accepted (or refused) the new text
        n = controller.weights.shape[2]
        step.max = play.max = n - 1
        step.value = play.value = controller.state["step"]

    if compute is not None:
        controls["text"].observe(resize_step, names="value")
    view.play = play
    return view
