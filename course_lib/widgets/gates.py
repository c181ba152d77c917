"""The gate explorer (notebooks 03 and 04): watch an LSTM's or a GRU's gates read a text, one character at a time.

Left: one heatmap per gate (LSTM ``i, f, g, o, c, h``; GRU ``r, z, n, h``), units × characters of the text, with the
current character marked. Right: the current step's value of each shown unit, as bars. The units shown in each row
are the ones that best track a chosen property of the text ("find units", in the spirit of LSTMVis): for every unit
we measure, over a longer held-out sample, the correlation between its activation and the property (inside a speaker
name, line start, vowel, punctuation); with no property, the units that vary most are shown.

Everything is computed once per text (under ``torch.no_grad``); moving the step only moves the marker and the bars.
"""
from __future__ import annotations

import inspect

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.patches import Rectangle

from ..train import eval_mode
from .base import FigureController, WidgetView, check_choice, check_integer

MAX_CHARS = 120
UNITS_SHOWN = 12  # rows per gate, or the hidden size if the model has fewer units
ANALYSIS_CHARS = 4000  # the "find units" statistics use this many characters of analysis_text
RECORD_BUDGET = 2 ** 26  # record_gates keeps at most this many numbers (characters x units x gates, 256 MB)
GATE_NAMES = {"lstm": ("i", "f", "g", "o", "c", "h"), "gru": ("r", "z", "n", "h")}
GATE_LABELS = {"i": "input i", "f": "forget f", "g": "candidate g", "o": "output o", "c": "cell c", "h": "hidden h",
               "r": "reset r", "z": "update z", "n": "candidate n"}
PROPERTIES = ("none", "inside speaker name", "line start", "vowel", "punctuation")


def text_properties(text: str) -> dict[str, np.ndarray]:
    """For each property, a 0/1 array with one entry per character of ``text``.

    A speaker name is a whole line that ends with ":" (the plays are written ``Hamlet:`` on its own line); its
    characters, colon included, count as inside. A line start is the first character after a newline.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
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
    returned by :func:`recurrent_with_gates`, to avoid converting it again. The model's training mode is restored
    afterwards, also when something fails. A text longer than ``RECORD_BUDGET / (units x gates)`` characters is
    refused (what it would record does not fit a notebook's memory).
    """
    _check_model_and_vocab(model, vocab)
    _check_text("text", text, vocab)
    if recurrent is not None and not _returns_gates(recurrent):
        raise TypeError(f"recurrent must be the model's recurrent stack as recurrent_with_gates(model) returns it, "
                        f"got {type(recurrent).__name__} (it cannot return its gates)")
    gate_count = len(GATE_NAMES.get(model.config.cell, ("h",)))  # what return_gates gives: 6 (LSTM), 4 (GRU)
    longest = max(1, RECORD_BUDGET // (model.config.hidden * gate_count))
    if len(text) > longest:
        raise ValueError(f"text has {len(text)} characters; recording the gates of this model ({model.config.hidden} "
                         f"units) is limited to {longest} characters (about 256 MB): pass text[:{longest}]")
    with eval_mode(model), torch.no_grad():
        x = model.embed(vocab.encode(text)[None].to(next(model.parameters()).device))  # (1, T, emb)
        rnn_stack = recurrent if recurrent is not None else recurrent_with_gates(model)
        _, _, gates = rnn_stack(x, return_gates=True)
    return {name: g[0].cpu().numpy() for name, g in gates.items()}  # each (T, H)


def _returns_gates(recurrent) -> bool:
    """Whether ``recurrent`` can be called with ``return_gates=True`` (our modules can, PyTorch's cannot)."""
    try:
        return "return_gates" in inspect.signature(getattr(recurrent, "forward", recurrent)).parameters
    except (TypeError, ValueError):  # not callable at all
        return False


def _check_model_and_vocab(model, vocab) -> None:
    config = getattr(model, "config", None)
    if not isinstance(model, torch.nn.Module) or getattr(config, "cell", None) is None:
        raise TypeError(f"model must be a course_lib.rnn.CharLM, got {type(model).__name__}")
    if not hasattr(vocab, "unseen") or not hasattr(vocab, "encode"):
        raise TypeError(f"vocab must be the model's course_lib.data.CharVocab, got {type(vocab).__name__}")
    if len(vocab) != config.vocab_size:
        raise ValueError(f"vocab has {len(vocab)} characters, the model was built for {config.vocab_size}: "
                         "pass the vocabulary the model was trained with")


def _check_text(name: str, text, vocab, limit: int | None = None) -> None:
    """A non-empty string of characters the model knows (spaces and newlines count), at most ``limit`` long."""
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a string, got {type(text).__name__}")
    if not text:
        raise ValueError(f"{name} is empty: type at least one character")
    if limit is not None and len(text) > limit:
        raise ValueError(f"{name} has {len(text)} characters; the explorer shows at most {limit} "
                         f"(use the first {limit}: {name}[:{limit}])")
    unseen = vocab.unseen(text)
    if unseen:
        raise ValueError(f"{name} has characters the model never saw in training: {''.join(unseen)!r}; "
                         "remove or replace them (the model knows letters, digits are rare, no accents or emoji)")


def rank_units(gates: dict[str, np.ndarray], prop: np.ndarray | None, k: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per gate: the ``k`` units whose activation correlates most (in absolute value) with ``prop``, and the
    correlations. With ``prop=None``: the ``k`` units with the largest variance, and their standard deviations.
    A gate with fewer than ``k`` units gives all of them. ``prop`` has one entry per step of the gates."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k (units per gate) must be an integer >= 1, got {k!r}")
    ranked = {}
    for name, values in gates.items():  # values (T, H)
        if prop is not None and np.shape(prop) != (len(values),):
            raise ValueError(f"prop must have one entry per step: shape ({len(values)},), got {np.shape(prop)}")
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
                 units: int | None = None):
        """``units``: rows shown per gate, at most the model's hidden size (default: ``UNITS_SHOWN``, or all the
        units of a smaller model). ``analysis_text``: the held-out text whose first ``ANALYSIS_CHARS`` characters
        rank the units."""
        _check_model_and_vocab(model, vocab)
        cell = model.config.cell
        if cell not in GATE_NAMES:
            raise ValueError(f"the gate explorer needs a CharLM with cell 'lstm' or 'gru', got {cell!r}")
        hidden = model.config.hidden
        if units is None:
            units = min(UNITS_SHOWN, hidden)
        check_integer("units", units, 1, hidden)  # more rows than units would stretch the heatmaps
        _check_text("analysis_text", analysis_text[:ANALYSIS_CHARS] if isinstance(analysis_text, str)
                    else analysis_text, vocab)
        self.model, self.vocab, self.units, self.cell = model, vocab, int(units), cell
        self.recurrent = recurrent_with_gates(model)
        self.names = GATE_NAMES[cell]
        # the "find units" statistics come from a longer sample, computed once
        sample = analysis_text[:ANALYSIS_CHARS]
        self.sample_gates = record_gates(model, vocab, sample, self.recurrent)
        self.sample_length = len(sample)
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
        self.title = self.fig.text(0.1, 0.955, "", fontsize=11, family="monospace", parse_math=False)
        self.ranking_note = self.fig.text(0.1, 0.015, "", fontsize=8, color="0.3")
        self.animate(*self.markers, *[b for bars in self.bars for b in bars], self.title)
        self.state = {"text": text, "step": step, "prop": prop}
        self._gates_text: str | None = None  # the text self.gates was recorded for
        self._drawn: tuple[str, str] | None = None  # (text, prop) the heatmaps show
        self._validate(self.state)
        self._apply()

    def _validate(self, state: dict) -> None:
        """The text: a non-empty string (spaces are characters too) of known characters, at most ``MAX_CHARS``."""
        _check_text("text", state["text"], self.vocab, MAX_CHARS)
        check_choice("prop", state["prop"], PROPERTIES, "property")
        check_integer("step", state["step"], 0, len(state["text"]) - 1)

    def set(self, **changes) -> None:
        text = changes.get("text")
        if isinstance(text, str) and "step" not in changes and text != self.state["text"]:
            changes["step"] = 0  # a new text starts at its first character
        super().set(**changes)

    def _forget_drawn(self) -> None:
        self._drawn = None

    def _apply(self) -> None:
        text, step, prop = self.state["text"], self.state["step"], self.state["prop"]
        if (text, prop) != self._drawn:
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
        self._drawn = None  # until the end: a failure half-way leaves nothing believed drawn
        if text != self._gates_text:
            self.gates = record_gates(self.model, self.vocab, text, self.recurrent)
            self._gates_text = text
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
            if r == len(self.names) - 1:  # only the bottom row is labelled; "$" in a text is a character, not math
                ax.set_xticks(range(len(text)), labels, fontsize=7, family="monospace", parse_math=False)
            else:  # no ticks at all rather than invisible ones: ticks are slow to build
                ax.set_xticks([])
            ax.tick_params(axis="x", length=0)
        lead = self.names[-2] if self.cell == "lstm" else "h"  # the cell state for LSTM, the hidden state for GRU
        units, scores = ranking[lead]
        if prop == "none":
            note = (f"rows: the {self.units} most active units of each gate (largest variation on a "
                    f"{self.sample_length:,}-character sample)")
        else:
            best = ", ".join(f"#{u} ({s:+.2f})" for u, s in zip(units[:4], scores[:4]))
            note = (f"rows: the {self.units} units of each gate most correlated with '{prop}' on a "
                    f"{self.sample_length:,}-character held-out sample; best {lead} units: {best}")
        self.ranking_note.set_text(note)
        self._drawn = (text, prop)
        self.background_stale = True

    def best_units(self, gate: str) -> tuple[np.ndarray, np.ndarray]:
        """The units shown for ``gate`` and their scores (correlation with the property, or standard deviation)."""
        prop = self.state["prop"]
        return rank_units({gate: self.sample_gates[gate]}, None if prop == "none" else self.sample_props[prop],
                          self.units)[gate]


def gate_explorer(model, vocab, passages: dict[str, str], analysis_text: str, prop: str = "none") -> WidgetView:
    """The widget: choose a passage or type your own text (Enter to use it), step through it with the slider or
    Play, and pick a property to find the units that track it."""
    if not isinstance(passages, dict):
        raise TypeError(f"passages must be a dict {{name: text}}, got {type(passages).__name__}")
    if not passages:
        raise ValueError("passages must hold at least one text")
    for name, passage in passages.items():
        _check_text(f"passages[{name!r}]", passage, vocab, MAX_CHARS)
    first = next(iter(passages.values()))
    controller = GateExplorer(model, vocab, first, analysis_text, prop=prop)
    text_box = widgets.Text(value=first, description="text", continuous_update=False,
                            layout=widgets.Layout(width="60%"), placeholder="type a text and press Enter")
    step = widgets.IntSlider(value=0, min=0, max=len(first) - 1, description="step")
    play = widgets.Play(value=0, min=0, max=len(first) - 1, interval=300, description="play")
    link = widgets.jslink((play, "value"), (step, "value"))
    passage = widgets.Dropdown(options=list(passages), description="passage")
    prop_choice = widgets.Dropdown(options=list(PROPERTIES), value=prop, description="find units")
    view = WidgetView(controller, {"text": text_box, "step": step, "prop": prop_choice}, extras=[passage, play])
    view.own(link)  # the link is a widget of its own: close it with the view

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
