"""The gate explorer (notebooks 03 and 04): watch an LSTM's or a GRU's gates read a text, one character at a time.

Left: one heatmap per gate (LSTM ``i, f, g, o, c, h``; GRU ``r, z, n, h``), units × characters of the text, with the
current character marked. Right: the current step's value of each shown unit, as bars. The units shown in each row
are the ones that best track a chosen property of the text ("find units", in the spirit of LSTMVis): for every unit
we measure, over a longer held-out sample, the correlation between its activation and the property (inside a speaker
name, line start, vowel, punctuation); with no property, the units that vary most are shown.

Everything is computed once per text (under ``torch.no_grad``); moving the step only moves the marker and the bars.
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.patches import Rectangle

from .base import FigureController, WidgetView

MAX_CHARS = 120
UNITS_SHOWN = 12
GATE_NAMES = {"lstm": ("i", "f", "g", "o", "c", "h"), "gru": ("r", "z", "n", "h")}
GATE_LABELS = {"i": "input i", "f": "forget f", "g": "candidate g", "o": "output o", "c": "cell c", "h": "hidden h",
               "r": "reset r", "z": "update z", "n": "candidate n"}
PROPERTIES = ("none", "inside speaker name", "line start", "vowel", "punctuation")


def text_properties(text: str) -> dict[str, np.ndarray]:
    """For each property, a 0/1 array with one entry per character of ``text``.

    A speaker name is a whole line that ends with ":" (the plays are written ``Hamlet:`` on its own line); its
    characters, colon included, count as inside. A line start is the first character after a newline.
    """
    n = len(text)
    speaker = np.zeros(n)
    start = 0
    for line in text.split("\n"):
        if line.endswith(":") and len(line) > 1:
            speaker[start : start + len(line)] = 1
        start += len(line) + 1
    line_start = np.array([1.0 if k == 0 or text[k - 1] == "\n" else 0.0 for k in range(n)])
    vowel = np.array([1.0 if c.lower() in "aeiou" else 0.0 for c in text])
    punctuation = np.array([1.0 if c in ".,;:!?'-" else 0.0 for c in text])
    return {"inside speaker name": speaker, "line start": line_start, "vowel": vowel, "punctuation": punctuation}


def recurrent_with_gates(model):
    """The recurrent stack of a ``course_lib.rnn.CharLM`` as our from-scratch module, which can record its gates.

    A model trained with PyTorch's ``nn.LSTM``/``nn.GRU`` (``reference=True``) is converted with ``from_torch``: the
    numbers are the same, only ours can return the gates.
    """
    from .. import rnn

    if isinstance(model.rnn, torch.nn.RNNBase):
        ours = rnn.CELLS[model.config.cell][0]
        return ours.from_torch(model.rnn)
    return model.rnn


def record_gates(model, vocab, text: str, recurrent=None) -> dict[str, np.ndarray]:
    """Run a character model over ``text`` and return its top layer's gates, each ``(T, H)``.

    ``model`` is a ``course_lib.rnn.CharLM`` with an LSTM or a GRU; ``recurrent`` (optional) its recurrent stack as
    returned by :func:`recurrent_with_gates`, to avoid converting it again.
    """
    if not text:
        raise ValueError("the text is empty: type at least one character")
    unseen = vocab.unseen(text)
    if unseen:
        raise ValueError(f"characters the model never saw in training: {''.join(unseen)!r}; "
                         "remove or replace them (the model knows letters, digits are rare, no accents or emoji)")
    was_training = model.training
    model.eval()
    with torch.no_grad():
        x = model.embed(vocab.encode(text)[None].to(next(model.parameters()).device))  # (1, T, emb)
        rnn_stack = recurrent if recurrent is not None else recurrent_with_gates(model)
        _, _, gates = rnn_stack(x, return_gates=True)
    model.train(was_training)
    return {name: g[0].cpu().numpy() for name, g in gates.items()}  # each (T, H)


def rank_units(gates: dict[str, np.ndarray], prop: np.ndarray | None, k: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per gate: the ``k`` units whose activation correlates most (in absolute value) with ``prop``, and the
    correlations. With ``prop=None``: the ``k`` units with the largest variance, and their standard deviations."""
    ranked = {}
    for name, values in gates.items():  # values (T, H)
        if prop is None:
            score = values.std(0)
            order = np.argsort(-score)[:k]
        else:
            centred = values - values.mean(0)
            p = prop - prop.mean()
            denom = np.sqrt((centred ** 2).sum(0) * (p ** 2).sum()) + 1e-12
            score = (centred * p[:, None]).sum(0) / denom  # Pearson correlation per unit
            order = np.argsort(-np.abs(score))[:k]
        ranked[name] = (order, score[order])
    return ranked


class GateExplorer(FigureController):
    """Heatmaps of every gate over a text, a movable step, and the units that best track a property of the text."""

    def __init__(self, model, vocab, text: str, analysis_text: str, step: int = 0, prop: str = "none",
                 units: int = UNITS_SHOWN):
        cell = getattr(getattr(model, "config", None), "cell", None)
        if cell not in GATE_NAMES:
            raise ValueError(f"the gate explorer needs a CharLM with cell 'lstm' or 'gru', got {cell!r}")
        self.model, self.vocab, self.units, self.cell = model, vocab, units, cell
        self.recurrent = recurrent_with_gates(model)
        self.names = GATE_NAMES[cell]
        # the "find units" statistics come from a longer sample, computed once
        sample = analysis_text[:4000]
        self.sample_gates = record_gates(model, vocab, sample, self.recurrent)
        self.sample_props = text_properties(sample)
        rows = len(self.names)
        super().__init__(figsize=(11, 1.25 * rows + 1.0), dpi=72)
        grid = self.fig.add_gridspec(rows, 2, width_ratios=[5, 1], left=0.1, right=0.98, top=0.9, bottom=0.1,
                                     hspace=0.25, wspace=0.08)
        self.heat_axes = [self.fig.add_subplot(grid[r, 0]) for r in range(rows)]
        self.bar_axes = [self.fig.add_subplot(grid[r, 1]) for r in range(rows)]
        self.heatmaps, self.markers, self.bars = [], [], []
        for r, name in enumerate(self.names):
            vmin, vmax = (-1, 1) if name in ("g", "n", "h", "c") else (0, 1)
            heat = self.heat_axes[r].imshow(np.zeros((units, 2)), aspect="auto", cmap="RdBu_r" if vmin < 0 else "viridis",
                                            vmin=vmin, vmax=vmax, interpolation="nearest")
            self.heat_axes[r].set_ylabel(GATE_LABELS[name], rotation=0, ha="right", va="center", fontsize=9)
            self.heat_axes[r].set_yticks([])
            marker = Rectangle((-0.5, -0.5), 1, units, fill=False, edgecolor="k", lw=1.5)
            self.heat_axes[r].add_patch(marker)
            bars = self.bar_axes[r].barh(np.arange(units), np.zeros(units), color="C0")
            self.bar_axes[r].set_xlim(vmin if name != "c" else -2, vmax if name != "c" else 2)
            self.bar_axes[r].set_ylim(units - 0.5, -0.5)
            self.bar_axes[r].axvline(0, color="0.7", lw=0.8)
            self.bar_axes[r].tick_params(labelsize=7)
            self.bar_axes[r].set_yticks([])
            self.heatmaps.append(heat)
            self.markers.append(marker)
            self.bars.append(bars)
        self.title = self.fig.text(0.1, 0.955, "", fontsize=11, family="monospace")
        self.ranking_note = self.fig.text(0.1, 0.015, "", fontsize=8, color="0.3")
        self.animate(*self.markers, *[b for bars in self.bars for b in bars], self.title)
        self.state = {"text": text, "step": step, "prop": prop}
        self._text_shown: str | None = None
        self._prop_shown: str | None = None
        self._validate(self.state)
        self._apply()

    def _validate(self, state: dict) -> None:
        text = state["text"]
        if not isinstance(text, str) or not text.strip():
            raise ValueError("the text is empty: type at least one character")
        if len(text) > MAX_CHARS:
            raise ValueError(f"the text has {len(text)} characters; the explorer shows at most {MAX_CHARS}")
        unseen = self.vocab.unseen(text)
        if unseen:
            raise ValueError(f"characters the model never saw in training: {''.join(unseen)!r}; "
                             "remove or replace them")
        if state["prop"] not in PROPERTIES:
            raise ValueError(f"property must be one of {PROPERTIES}, got {state['prop']!r}")
        step = state["step"]
        if not (isinstance(step, (int, np.integer)) and 0 <= step < len(text)):
            raise ValueError(f"step must be an integer in [0, {len(text) - 1}], got {step!r}")

    def set(self, **changes) -> None:
        if "text" in changes and "step" not in changes and changes["text"] != self.state["text"]:
            changes["step"] = 0  # a new text starts at its first character
        super().set(**changes)

    def _apply(self) -> None:
        text, step, prop = self.state["text"], self.state["step"], self.state["prop"]
        if text != self._text_shown or prop != self._prop_shown:
            self._redraw_text(text, prop)
        for r, name in enumerate(self.names):
            self.markers[r].set_x(step - 0.5)
            values = self.gates[name][step, self.shown_units[name]]
            for bar, v in zip(self.bars[r], values):
                bar.set_width(v)
                bar.set_color("C3" if v < 0 else "C0")
        char = text[step]
        shown = {"\n": "newline", " ": "space"}.get(char, repr(char))
        self.title.set_text(f"step {step:>3}: {shown:<8} (the model has read {text[: step + 1][-30:]!r})")

    def _redraw_text(self, text: str, prop: str) -> None:
        """New text or property: (for a new text) run the model, choose the units, redraw the heatmaps (the slow path)."""
        if text != self._text_shown:
            self.gates = record_gates(self.model, self.vocab, text, self.recurrent)
        prop_values = None if prop == "none" else self.sample_props[prop]
        ranking = rank_units(self.sample_gates, prop_values, self.units)
        self.shown_units = {name: units for name, (units, _) in ranking.items()}
        labels = [{"\n": "⏎", " ": "·"}.get(c, c) for c in text]
        for r, name in enumerate(self.names):
            heat = self.gates[name][:, self.shown_units[name]].T  # (units, T)
            self.heatmaps[r].set_data(heat)
            self.heatmaps[r].set_extent((-0.5, len(text) - 0.5, self.units - 0.5, -0.5))
            ax = self.heat_axes[r]
            ax.set_xlim(-0.5, len(text) - 0.5)
            ax.set_xticks(range(len(text)), labels if r == len(self.names) - 1 else [], fontsize=7,
                          family="monospace")
            ax.tick_params(axis="x", length=0)
        lead = self.names[-2] if self.cell == "lstm" else "h"  # the cell state for LSTM, the hidden state for GRU
        units, scores = ranking[lead]
        if prop == "none":
            note = f"rows: the {self.units} most active units of each gate (largest variation on a 4,000-character sample)"
        else:
            best = ", ".join(f"#{u} ({s:+.2f})" for u, s in zip(units[:4], scores[:4]))
            note = (f"rows: the {self.units} units of each gate most correlated with '{prop}' on a 4,000-character "
                    f"held-out sample; best {lead} units: {best}")
        self.ranking_note.set_text(note)
        self._text_shown, self._prop_shown = text, prop
        self.background_stale = True

    def best_units(self, gate: str) -> tuple[np.ndarray, np.ndarray]:
        """The units shown for ``gate`` and their scores (correlation with the property, or standard deviation)."""
        prop = self.state["prop"]
        return rank_units({gate: self.sample_gates[gate]}, None if prop == "none" else self.sample_props[prop],
                          self.units)[gate]


def gate_explorer(model, vocab, passages: dict[str, str], analysis_text: str, prop: str = "none") -> WidgetView:
    """The widget: choose a passage or type your own text (Enter to use it), step through it with the slider or
    Play, and pick a property to find the units that track it."""
    if not passages:
        raise ValueError("passages must hold at least one text")
    first = next(iter(passages.values()))
    controller = GateExplorer(model, vocab, first, analysis_text, prop=prop)
    text_box = widgets.Text(value=first, description="text", continuous_update=False,
                            layout=widgets.Layout(width="60%"), placeholder="type a text and press Enter")
    step = widgets.IntSlider(value=0, min=0, max=len(first) - 1, description="step")
    play = widgets.Play(value=0, min=0, max=len(first) - 1, interval=300, description="play")
    widgets.jslink((play, "value"), (step, "value"))
    passage = widgets.Dropdown(options=list(passages), description="passage")
    prop_choice = widgets.Dropdown(options=list(PROPERTIES), value=prop, description="find units")
    view = WidgetView(controller, {"text": text_box, "step": step, "prop": prop_choice}, extras=[passage, play])

    def use_passage(change):
        text_box.value = passages[change["new"]]

    def resize_step(change):  # after the view's own handler has (or has not) accepted the new text
        n = len(controller.state["text"])
        step.max = play.max = n - 1
        step.value = controller.state["step"]

    passage.observe(use_passage, names="value")
    view.passage, view.play = passage, play
    text_box.observe(resize_step, names="value")
    return view
