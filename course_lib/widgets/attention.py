"""The attention explorer: one widget for every attention map of the course (notebooks 05–08).

It shows a weights array ``(layers, heads, T_q, T_k)`` (05's decoder has one layer and one head):

* left, top: the query × key heat map of the selected layer and head, keys along the x axis, queries down the y axis,
  with the selected query's row framed;
* left, bottom: the selected query's row drawn as bars onto the same keys, with the key it weights most named;
* right, only with more than one layer or head: an overview grid of small maps, one per (layer, head) — rows are
  layers ``L0, L1, …``, columns heads ``H0, H1, …`` — with the selected one framed in red. It shows at most
  ``MAX_GRID_MAPS`` maps and ``MAX_GRID_SIDE`` layers or heads;
* controls: a step slider (with Play) that selects the query — for a decoder, ``reveal=True`` shows only the rows
  produced so far (in the big map and in every small map), so Play walks through the decoder writing its output — and
  layer/head dropdowns where there is more than one. With a ``compute`` function (text -> labels and weights), a text
  box runs the model on a new input.

Everything shown is precomputed; moving the step or choosing another layer or head only updates the big map's data,
the frames, the bars, the revealed rows and the title (blitted: the grid is not redrawn). Only a new text runs the
model again and redraws the rest. :func:`head_summary` says in numbers what each head does (looks at the previous
position, at its own, or spreads out), the heads that look back at the start of the word or line (:func:`anchor_score`), and :func:`copy_score` which heads copy what followed an earlier occurrence
of the current pair of tokens, to find the heads worth a look.
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
MAX_GRID_MAPS = 72  # most small maps in the layers × heads overview (e.g. 8 × 8, or MiniLM's 6 layers × 12 heads)
MAX_GRID_SIDE = 16  # most layers, or heads, in the overview: a longer row of small maps is too thin to read
GRID_LEFT, GRID_TOP = 9.4, 0.75  # inches from the figure's left and top edges to the overview grid


def _weights_array(weights) -> np.ndarray:
    """``weights`` as a float array ``(layers, heads, T_q, T_k)``; a 2-D ``(T_q, T_k)`` map is one layer, one head."""
    try:
        w = np.asarray(weights.detach().cpu() if hasattr(weights, "detach") else weights, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"weights must be a numeric array or tensor, got {type(weights).__name__}") from exc
    if w.ndim == 2:
        w = w[None, None]
    if w.ndim != 4:
        hint = "; for a batch, pass one example: weights[0]" if w.ndim == 5 else ""
        raise ValueError(f"weights must have shape (layers, heads, T_q, T_k) or (T_q, T_k), got {w.shape}{hint}")
    if 0 in w.shape:
        raise ValueError(f"weights is empty: shape {w.shape}")
    return w


def _check_rows(w: np.ndarray) -> None:
    """Every row must be a distribution over the keys (non-negative, summing to 1), as attention weights are."""
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("weights must be finite and non-negative (attention weights, after the softmax)")
    sums = w.sum(-1)
    if not np.allclose(sums, 1.0, atol=1e-3):
        raise ValueError(f"every row of weights must sum to 1 over the keys (they are softmax outputs); row sums "
                         f"range from {sums.min():.3f} to {sums.max():.3f}. Pass the weights, not the scores")


def check_weights(query_labels, key_labels, weights) -> np.ndarray:
    """Validate an attention map for the explorer; return it as a float array ``(layers, heads, T_q, T_k)``.

    A 2-D ``(T_q, T_k)`` array is read as one layer and one head. Every row must be a distribution over the keys
    (non-negative, summing to 1), since that is what attention weights are. The overview grid draws at most
    ``MAX_GRID_MAPS`` (layer, head) maps and at most ``MAX_GRID_SIDE`` layers or heads.
    """
    w = _weights_array(weights)
    L, H, T_q, T_k = w.shape
    if L * H > MAX_GRID_MAPS or max(L, H) > MAX_GRID_SIDE:
        raise ValueError(f"weights has {L} layers × {H} heads = {L * H} maps; the explorer's overview grid draws at "
                         f"most {MAX_GRID_MAPS} maps and at most {MAX_GRID_SIDE} layers or heads: pass a part, e.g. "
                         f"weights[:4] (the first 4 layers) or weights[:, :8] (the first 8 heads)")
    if len(query_labels) != T_q or len(key_labels) != T_k:
        raise ValueError(f"labels do not match the weights: {len(query_labels)} query and {len(key_labels)} key "
                         f"labels for weights of shape {w.shape} (T_q = {T_q}, T_k = {T_k})")
    if max(T_q, T_k) > MAX_TOKENS:
        raise ValueError(f"the explorer draws at most {MAX_TOKENS} queries and keys, got T_q = {T_q}, T_k = {T_k}")
    _check_rows(w)
    return w


def head_summary(weights) -> dict[str, np.ndarray]:
    """What each head of a self-attention map does, in three numbers per (layer, head).

    ``weights`` is ``(layers, heads, T, T)`` or one ``(T, T)`` map (a tensor or an array; for a batch pass one example,
    ``weights[0]``), queries and keys being the same T positions. Returns a dict of ``(layers, heads)`` arrays:

    * ``"previous"``: the mean weight a query t puts on key t − 1, the position just before it;
    * ``"same"``: the mean weight a query t puts on key t, its own position;
    * ``"entropy"``: the mean entropy of a query's row, H = −Σ_k w_k log w_k in nats: 0 for a head that looks at one
      key only, log T for one that spreads evenly over T keys (under a causal mask query t sees t + 1 keys, so at most
      log(t + 1)).

    The means run over queries 1 … T−1 (query 0 has no previous position, and under a causal mask it can only look at
    itself). Read one head with ``summary["previous"][layer, head]``; find the most "previous-token" head with
    ``np.unravel_index(summary["previous"].argmax(), summary["previous"].shape)``.
    """
    w = _weights_array(weights)
    T_q, T_k = w.shape[2:]
    if T_q != T_k:
        raise ValueError(f"head_summary needs self-attention, queries and keys at the same T positions (T_q == T_k), "
                         f"got weights of shape {w.shape} (T_q = {T_q}, T_k = {T_k}): 'the previous position' means "
                         "nothing for cross-attention")
    if T_q < 2:
        raise ValueError(f"head_summary needs at least 2 positions (query 1 is the first with a previous one), got "
                         f"T = {T_q}")
    _check_rows(w)
    t = np.arange(1, T_q)  # the queries averaged over
    rows = w[:, :, t]  # (layers, heads, T-1, T)
    w_logw = rows * np.log(np.where(rows > 0, rows, 1.0))  # 0 log 0 = 0
    return {"previous": w[:, :, t, t - 1].mean(-1),  # query t on key t - 1
            "same": w[:, :, t, t].mean(-1),  # query t on key t
            "entropy": -w_logw.sum(-1).mean(-1)}


def _self_attention_with_tokens(who: str, weights, tokens) -> tuple[np.ndarray, list]:
    """The checks :func:`copy_score` and :func:`anchor_score` share: a self-attention map ``(layers, heads, T, T)``
    whose rows are distributions, and one token per position. Returns the map as an array and the tokens as a list."""
    w = _weights_array(weights)
    T_q, T_k = w.shape[2:]
    if T_q != T_k:
        raise ValueError(f"{who} needs self-attention (T_q == T_k), got weights of shape {w.shape}")
    tokens = list(tokens.tolist() if hasattr(tokens, "tolist") else tokens)
    if len(tokens) != T_q:
        raise ValueError(f"tokens has {len(tokens)} entries, the weights have T = {T_q} positions")
    _check_rows(w)
    return w, tokens


def copy_score(weights, tokens) -> dict:
    """How much each head of a causal self-attention map **copies**: looks up what followed the current pair of
    tokens the last time it occurred, the pattern called an *induction head* (Olsson et al., 2022).

    Query ``t`` reads the pair ``(tokens[t-1], tokens[t])``. Its copy targets are the keys ``j <= t`` that come right
    after an earlier occurrence of that pair, ``(tokens[j-2], tokens[j-1]) == (tokens[t-1], tokens[t])``: ``tokens[j]``
    is what followed the pair last time, a good guess for ``tokens[t+1]``. Returns a dict:

    * ``"copy"``: ``(layers, heads)``, the mean weight a query puts on its copy targets (together), over the queries
      that have at least one;
    * ``"uniform"``: the same number for a head that spreads evenly over the keys a causal query sees (``|J| / (t+1)``):
      the level a head that does not copy would reach by chance;
    * ``"queries"``: how many queries had a copy target.

    ``weights (layers, heads, T, T)`` (or one ``(T, T)`` map), ``tokens`` a sequence of ``T`` labels or ids.
    """
    w, tokens = _self_attention_with_tokens("copy_score", weights, tokens)
    T_q = w.shape[2]
    mass, chance = [], []
    for t in range(1, T_q):
        targets = [j for j in range(2, t + 1) if tokens[j - 2] == tokens[t - 1] and tokens[j - 1] == tokens[t]]
        if targets:
            mass.append(w[:, :, t, targets].sum(-1))  # (layers, heads)
            chance.append(len(targets) / (t + 1))
    if not mass:
        raise ValueError("no pair of tokens occurs twice in this text: there is nothing to copy; use a longer text "
                         "or one that repeats a word or a name")
    return {"copy": np.mean(mass, axis=0), "uniform": float(np.mean(chance)), "queries": len(mass)}


def anchor_score(weights, tokens, anchors, reset: str = "") -> dict:
    """How much each head of a causal self-attention map looks back at the most recent **anchor** before the query:
    with ``anchors=" \\n"`` the start of the current word (the last space or line break), with ``"\\n"`` the start of
    the current line.

    Query ``t``'s target is the largest ``j < t`` with ``tokens[j]`` in ``anchors``; queries with no anchor before
    them are skipped. A token in ``reset`` forgets the anchor seen so far: ``anchor_score(w, text, " ", reset="\\n")``
    scores word starts within a line only (the first word of a line has no space before it on that line). Returns a dict: ``"anchor"``, ``(layers, heads)``, the mean weight a query puts on its target;
    ``"uniform"``, the mean of ``1 / (t + 1)`` over the same queries (a head that spreads evenly over the keys a causal
    query sees); ``"queries"``, how many queries were averaged.

    ``weights (layers, heads, T, T)`` (or one ``(T, T)`` map), ``tokens`` a sequence of ``T`` labels (characters).
    """
    if not anchors:
        raise ValueError("anchors is empty: give the tokens to look back at, e.g. ' \\n' for the start of a word")
    w, tokens = _self_attention_with_tokens("anchor_score", weights, tokens)
    T_q = w.shape[2]
    mass, chance, last = [], [], None
    for t in range(T_q):
        if last is not None:  # the most recent anchor before t
            mass.append(w[:, :, t, last])
            chance.append(1 / (t + 1))
        if tokens[t] in anchors:
            last = t
        elif tokens[t] in reset:
            last = None
    if not mass:
        raise ValueError(f"no query has an anchor ({anchors!r}) before it: use a text that contains one early on")
    return {"anchor": np.mean(mass, axis=0), "uniform": float(np.mean(chance)), "queries": len(mass)}


def _plural(word: str) -> str:
    return word[:-1] + "ies" if word.endswith("y") and word[-2:-1] not in "aeiou" else word + "s"  # keys, queries


def _figure_size(layers: int, heads: int) -> tuple[float, float, float]:
    """``(width, height, cell)`` in inches: 05's 9 × 5.2 without a grid; with one, the grid of ``cell``-inch small maps
    sits right of the big map (at most 0.8 in each, the grid about 4.6 in wide; many layers make the figure taller)."""
    if (layers, heads) == (1, 1):
        return 9.0, 5.2, 0.0
    cell = min(0.8, 4.6 / heads, max(0.4, 4.0 / layers))
    width = GRID_LEFT + max(heads * cell, 2.0) + 0.3  # at least room for the grid's caption
    height = max(5.2, GRID_TOP + layers * cell + 0.7)  # the heads' titles above, a caption below
    return width, height, cell


class AttentionMap(FigureController):
    """Heat map of one layer/head, the selected query's row as bars, a step that walks the queries; with several layers
    or heads, an overview grid of every (layer, head)'s map, the selected one framed."""

    def __init__(self, query_labels, key_labels, weights, *, step: int = 0, layer: int = 0, head: int = 0,
                 reveal: bool = False, compute: Callable[[str], Computed] | None = None, text: str = "",
                 query_name: str = "query", key_name: str = "key"):
        self.compute, self.reveal = compute, reveal
        self.query_name, self.key_name = query_name, key_name
        # what each input text shows: (query labels, key labels, weights); the current text's entry is used
        self._data = {text: (list(map(str, query_labels)), list(map(str, key_labels)),
                             check_weights(query_labels, key_labels, weights))}
        self.query_labels, self.key_labels, self.weights = self._data[text]
        L, H = self.weights.shape[:2]
        width, height, cell = _figure_size(L, H)
        super().__init__(figsize=(width, height), dpi=80)
        # the big map, its bars and colour bar keep 05's place in inches, whatever the figure's size
        grid = self.fig.add_gridspec(2, 2, height_ratios=[2.2, 1], width_ratios=[40, 1], left=1.08 / width,
                                     right=8.28 / width, top=1 - 0.52 / height, bottom=0.52 / height, hspace=0.35,
                                     wspace=0.03)
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
        self.title = self.fig.text(1.08 / width, 1 - 0.26 / height, "", fontsize=11, family="monospace")
        self.bars = None
        self.grid_axes, self.grid_images, self.grid_covers, self.grid_frame = [], [], [], None
        if (L, H) != (1, 1):
            self._build_grid(L, H, cell)
        self.state = {"text": text, "step": step, "layer": layer, "head": head}
        self._shown = None  # id of the weights whose labels, bars and grid are drawn in the background
        self._validate(self.state)
        self._apply()

    def _build_grid(self, L: int, H: int, cell: float) -> None:
        """The overview: ``grid_axes[layer][head]`` each holding a small map, the heads named above, the layers left."""
        width, height = self.fig.get_size_inches()
        spec = self.fig.add_gridspec(L, H, left=GRID_LEFT / width, right=(GRID_LEFT + H * cell) / width,
                                     top=1 - GRID_TOP / height, bottom=1 - (GRID_TOP + L * cell) / height,
                                     wspace=0.08, hspace=0.08)
        for layer in range(L):
            row_axes, row_images = [], []
            for head in range(H):
                ax = self.fig.add_subplot(spec[layer, head])
                row_images.append(ax.imshow(np.zeros((1, 1)), cmap="viridis", vmin=0, vmax=1, aspect="auto",
                                            interpolation="nearest"))
                ax.set_xticks([])
                ax.set_yticks([])
                ax.spines[:].set_visible(False)  # a small map needs no frame (and a cover would hide half of it)
                if layer == 0:
                    ax.set_title(f"H{head}", fontsize=8 if H <= 10 else 7, pad=2)
                if head == 0:
                    ax.set_ylabel(f"L{layer}", fontsize=8, rotation=0, ha="right", va="center", labelpad=3)
                if self.reveal:  # hides the rows not produced yet, in light grey
                    cover = Rectangle((-0.5, -0.5), 1, 0, facecolor="0.9", edgecolor="none")
                    ax.add_patch(cover)
                    self.grid_covers.append(cover)
                row_axes.append(ax)
            self.grid_axes.append(row_axes)
            self.grid_images.append(row_images)
        self.fig.text(GRID_LEFT / width, 1 - (GRID_TOP + L * cell + 0.12) / height,
                      "rows: layers, columns: heads\nframed: the map on the left", fontsize=8, va="top", color="0.3")
        self.grid_frame = Rectangle((0, 0), 1, 1, transform=self.fig.transFigure, fill=False, edgecolor="red", lw=2.5)
        self.fig.add_artist(self.grid_frame)

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
            if entry[2].shape[:2] != self.weights.shape[:2]:
                raise ValueError(f"compute returned weights for {entry[2].shape[0]} layers × {entry[2].shape[1]} "
                                 f"heads; this explorer shows {self.weights.shape[0]} × {self.weights.shape[1]}")
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
        self._shown = None  # after a roll-back, rebuild the axes, bars and grid for the restored input

    def _apply(self) -> None:
        self.query_labels, self.key_labels, self.weights = self._data[self.state["text"]]
        layer, head, step = self.state["layer"], self.state["head"], self.state["step"]
        if self._shown != id(self.weights):
            self._redraw_background()
        T_q = self.weights.shape[2]
        w = self.weights[layer, head]  # (T_q, T_k)
        shown = np.ma.masked_array(w, mask=np.zeros_like(w, dtype=bool))
        if self.reveal:
            shown.mask[step + 1 :] = True  # rows the decoder has not produced yet
        self.image.set_data(shown)
        self.frame.set_y(step - 0.5)
        for bar, value in zip(self.bars, w[step]):
            bar.set_height(value)
        for cover in self.grid_covers:  # the same rows hidden in every small map
            cover.set_y(step + 0.5)
            cover.set_height(T_q - 1 - step)
        if self.grid_frame is not None:
            box = self.grid_axes[layer][head].get_position()  # in figure coordinates
            width, height = self.fig.get_size_inches()
            pad_x, pad_y = 0.04 / width, 0.04 / height  # 0.04 in around the small map
            self.grid_frame.set_bounds(box.x0 - pad_x, box.y0 - pad_y, box.width + 2 * pad_x, box.height + 2 * pad_y)
        best = int(w[step].argmax())
        where = f" layer {layer}, head {head}," if self.weights.shape[:2] != (1, 1) else ""
        self.title.set_text(f"{where} {self.query_name} {step} {self.query_labels[step]!r} attends most to "
                            f"{self.key_name} {best} {self.key_labels[best]!r} ({w[step, best]:.2f})".strip())

    def _redraw_background(self) -> None:
        """A new input: axes, labels, bars and the grid's small maps are rebuilt (the slow path)."""
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
        for layer, row in enumerate(self.grid_images):  # every small map shows its whole (T_q, T_k) map
            for head, small in enumerate(row):
                small.set_data(self.weights[layer, head])
                small.set_extent((-0.5, T_k - 0.5, T_q - 0.5, -0.5))
                small.axes.set_xlim(-0.5, T_k - 0.5)
                small.axes.set_ylim(T_q - 0.5, -0.5)
        for cover in self.grid_covers:
            cover.set_width(T_k)
        # a new list (never changed in place: a refused value rolls the controller back to a shallow copy)
        self.animated = []
        self.animate(self.image, self.frame, self.title, *self.bars)
        if self.grid_frame is not None:
            self.animate(*self.grid_covers, self.grid_frame)  # the frame last: over its neighbours' covers
        self._shown = id(self.weights)
        self.background_stale = True

def attention_explorer(query_labels, key_labels, weights, *, reveal: bool = False,
                       compute: Callable[[str], Computed] | None = None, text: str = "",
                       query_name: str = "query", key_name: str = "key", play_interval: int = 600,
                       text_box: bool = True) -> WidgetView:
    """The widget. ``weights (layers, heads, T_q, T_k)`` or ``(T_q, T_k)``; ``reveal=True`` for a decoder (rows appear
    as the step advances); ``compute(text) -> (query_labels, key_labels, weights)`` adds a text box (Enter runs it;
    a ``ValueError`` it raises is shown as a message; its weights must have the same layers and heads).
    ``text_box=False`` leaves the box out when another widget drives the input (``view.update(text=...)``).

    With more than one layer or head, layer and head dropdowns appear and the figure adds the layers × heads overview
    grid (see the module docstring); pass at most ``MAX_GRID_MAPS`` maps, e.g. ``weights[:4]`` for the first 4 layers.
    """
    controller = AttentionMap(query_labels, key_labels, weights, reveal=reveal, compute=compute, text=text,
                              query_name=query_name, key_name=key_name)
    L, H, T_q, _ = controller.weights.shape
    step = widgets.IntSlider(value=0, min=0, max=T_q - 1, description="step")
    play = widgets.Play(value=0, min=0, max=T_q - 1, interval=play_interval, description="play")
    link = widgets.jslink((play, "value"), (step, "value"))
    controls: dict = {"step": step}
    if compute is not None and text_box:
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

    if "text" in controls:
        controls["text"].observe(resize_step, names="value")
    view.play = play
    view.resize_step = resize_step  # for a widget that drives the input without the text box: call after update
    return view
