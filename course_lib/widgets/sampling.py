"""The sampling explorer (notebook 07): what a GPT writes, and how sure it was of every character it wrote.

Controls: a prompt box, the number of characters, temperature (0 = greedy), top-k (0 = off), top-p (1 = off), a seed
and a "new sample" button (seed + 1). Changing any of these samples a new text (about a second for 200 characters of
the course's GPT): sliders act when released, the prompt when you click outside its box, and the message line says
"sampling …" meanwhile. The position slider and the "colour by" buttons only redraw (a few milliseconds).

The figure, one persistent matplotlib figure:

* top: the prompt (grey cells) and the sampled text, one character per cell, each sampled character's cell coloured by
  the probability it had (colour bar on the right); lines break after a newline (shown as ⏎) and after ``COLS``
  characters. The selected position is framed in red. Above the text, the settings and two lines of numbers: the
  mean log-probability of the sampled characters and how many were drawn with p < 0.1;
* bottom left: the candidates at the selected position, the 5 most likely under the sampling distribution (and the
  drawn one if it is not among them, named in red), each with two bars: the model's own probability and the sampling
  distribution's;
* bottom right: the selected position in words (the character drawn, both probabilities, its rank, the context).

Two probabilities per sampled character, both kept for every position:

* **sampling p**: under the distribution it was drawn from, after temperature, top-k and top-p
  (:func:`course_lib.charlm.sample_with_probs`). 1 for every greedy pick (temperature 0).
* **the model's own p**: ``softmax(logits)`` at temperature 1 with nothing cut: how likely the model found it.

:func:`generate_with_probs` repeats ``GPT.generate`` step for step (the same forward passes, with the cache while the
text fits the context, and the same draws), so its text equals ``model.generate(vocab, prompt, n, temperature, top_k,
top_p, generator=torch.Generator().manual_seed(seed))``. :func:`gpt_attention` hands the last 64 characters to the
attention explorer: ``attention_explorer(*view.controller.attention())``.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.patches import Patch, Rectangle

from .. import charlm
from ..train import eval_mode
from .base import FigureController, WidgetView, check_choice, check_integer, check_number

MAX_NEW = 400  # the most characters the widget samples at once (about 2 s for the course's GPT)
MAX_WITH_PROBS = 10_000  # the most characters one call of generate_with_probs samples (two (n, V) float64 arrays)
MAX_TEMPERATURE = 2.0
MAX_SEED = 2**32 - 1
COLS, ROWS = 80, 18  # the text grid: characters per line, lines
TOP = 5  # candidates shown as bars at the selected position
LOW_P = 0.1  # "drawn with p < 0.1" counts as a surprise
ATTENTION_CHARS = 64  # the attention explorer draws at most 64 queries and keys
COLOUR_BY = ("sampling", "model")
GENERATION_SETTINGS = ("prompt", "n", "temperature", "top_k", "top_p", "seed")  # a change samples a new text
CMAP = colormaps["viridis"]
PROMPT_COLOUR = (0.86, 0.86, 0.86, 1.0)
FONT_SIZE = 12  # of the text grid: DejaVu Sans Mono, 8 pixels per character at the figure's 80 dpi
ROW_HEIGHT = 0.22  # inches
WIDTH, HEIGHT = 10.0, 7.6  # inches


# ----------------------------------------------------------------------------------------------------------------------
# Sampling with probabilities, and the attention hand-off
# ----------------------------------------------------------------------------------------------------------------------

@dataclass(eq=False)
class Sample:
    """One sampled text. ``n`` characters were sampled after ``prompt``; ``V`` is the vocabulary size.

    ``sampling[i]`` is the distribution character ``i`` was drawn from (after temperature, top-k, top-p), ``model[i]``
    the model's own (temperature 1, nothing cut); ``p_sampling[i]``, ``p_model[i]`` the drawn character's probability
    under each.
    """

    prompt: str
    text: str  # prompt + the sampled characters
    ids: np.ndarray  # (n,) the sampled ids
    sampling: np.ndarray  # (n, V)
    model: np.ndarray  # (n, V)
    p_sampling: np.ndarray  # (n,)
    p_model: np.ndarray  # (n,)


def _check_model(model, vocab) -> None:
    from ..gpt import GPT

    if not isinstance(model, GPT):
        raise TypeError(f"model must be a course_lib.gpt.GPT, got {type(model).__name__}")
    if not all(hasattr(vocab, a) for a in ("encode", "decode", "unseen", "__len__")):
        raise TypeError(f"vocab must be the CharVocab the model was trained with (data.CharVocab), "
                        f"got {type(vocab).__name__}")
    if len(vocab) != model.config.vocab_size:
        raise ValueError(f"vocab has {len(vocab)} characters, the model was built for {model.config.vocab_size}: "
                         "pass the vocabulary the model was trained with")


@torch.no_grad()
def generate_with_probs(model, vocab, prompt: str, n: int, temperature: float = 1.0, top_k: int | None = None,
                        top_p: float | None = None, seed: int = 0) -> Sample:
    """Sample ``n`` characters after ``prompt`` exactly as ``model.generate`` does, keeping both distributions of every
    step (see :class:`Sample`).

    The same text as ``model.generate(vocab, prompt, n, temperature, top_k, top_p,
    generator=torch.Generator().manual_seed(seed))``: the same forward passes (the prompt once, then one character at a
    time with the key/value cache until the context is full, then the last ``block_size`` characters each step) and the
    same draws (:func:`course_lib.charlm.sample_with_probs` is what ``sample_next`` runs).
    """
    _check_model(model, vocab)
    n = charlm.check_generate(vocab, model.config.vocab_size, prompt, n, MAX_WITH_PROBS)
    charlm.check_sampling(temperature, top_k, top_p)
    check_integer("seed", seed, 0, MAX_SEED)
    block = model.config.block_size
    if len(prompt) > block:
        raise ValueError(f"prompt has {len(prompt)} characters, more than the model reads (block_size={block}): "
                         f"pass its last {block}, prompt[-{block}:]")
    generator = torch.Generator().manual_seed(int(seed))
    device = model.wte.weight.device
    ids = vocab.encode(prompt).tolist()
    new_ids, sampling, own = [], [], []
    with eval_mode(model):
        caches = model.new_caches()
        logits = model(torch.tensor([ids], device=device), caches)  # (1, len(prompt), V)
        for step in range(n):
            next_id, probs = charlm.sample_with_probs(logits[0, -1], temperature, top_k, top_p, generator)
            sampling.append(probs)  # (V,) what the draw used
            own.append(charlm.next_distribution(logits[0, -1], 1.0))  # (V,) the model's own
            ids.append(next_id)
            new_ids.append(next_id)
            if step == n - 1:  # the last character needs no forward pass
                break
            if caches is not None and len(ids) <= block:
                logits = model(torch.tensor([[next_id]], device=device), caches)  # (1, 1, V): the new one only
            else:
                caches = None  # the window is full: from here on, re-read the last block_size characters
                logits = model(torch.tensor([ids[-block:]], device=device))  # (1, block, V)
    V = model.config.vocab_size
    sampling_np = torch.stack(sampling).numpy() if sampling else np.zeros((0, V))  # (n, V)
    own_np = torch.stack(own).numpy() if own else np.zeros((0, V))  # (n, V)
    drawn = np.array(new_ids, dtype=np.int64)  # (n,)
    rows = np.arange(len(drawn))
    return Sample(prompt=prompt, text=prompt + (vocab.decode(new_ids) if new_ids else ""), ids=drawn,
                  sampling=sampling_np, model=own_np, p_sampling=sampling_np[rows, drawn], p_model=own_np[rows, drawn])


@torch.no_grad()
def gpt_attention(model, vocab, text: str, last: int = ATTENTION_CHARS) -> tuple[list[str], list[str], np.ndarray]:
    """``(labels, labels, weights (layers, heads, T, T))`` of the GPT reading the last ``last`` characters of ``text``
    (at most its ``block_size``), ready for ``widgets.attention.attention_explorer``; it also serves as that explorer's
    ``compute`` for a text box. The model reads them from position 0, as a fresh window."""
    _check_model(model, vocab)
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    if not text:
        raise ValueError("text is empty: type at least one character")
    check_integer("last", last, 1, ATTENTION_CHARS)
    window = text[-min(last, model.config.block_size):]
    idx = vocab.encode(window)[None].to(model.wte.weight.device)  # (1, T); unknown characters raise ValueError
    with eval_mode(model):
        _, weights = model(idx, return_weights=True)  # (1, layers, heads, T, T)
    return list(window), list(window), weights[0].double().cpu().numpy()


def wrap(text: str, cols: int = COLS, rows: int = ROWS) -> list[tuple[int, int] | None]:
    """The ``(row, column)`` cell of every character of ``text`` in a grid of ``rows`` x ``cols``.

    A line ends after a newline and after ``cols`` characters. If that needs more than ``rows`` lines, newlines do not
    break lines (they stay visible as ⏎); if the text is still too long, only its last ``rows * cols`` characters get
    a cell and the ones before get ``None``.
    """
    for break_at_newlines in (True, False):
        cells, row, col = [], 0, 0
        for char in text:
            if col == cols:
                row, col = row + 1, 0
            cells.append((row, col))
            col += 1
            if char == "\n" and break_at_newlines:
                row, col = row + 1, 0
        if not cells or cells[-1][0] < rows:
            return cells
    skip = len(text) - rows * cols
    return [None] * skip + [(i // cols, i % cols) for i in range(rows * cols)]


# ----------------------------------------------------------------------------------------------------------------------
# The controller
# ----------------------------------------------------------------------------------------------------------------------

def _settings_key(state: dict) -> tuple:
    """What a sample depends on; top-k 0 and top-p 1 mean "off", as None does."""
    top_k = state["top_k"] or None
    top_p = None if state["top_p"] is None or state["top_p"] >= 1 else float(state["top_p"])
    return state["prompt"], int(state["n"]), float(state["temperature"]), top_k, top_p, int(state["seed"])


def _mean_log(p: np.ndarray) -> float:
    return float(np.log(np.maximum(p, 1e-300)).mean())


def _show(char: str, space: str = "␣") -> str:
    """A character as one visible cell: a newline as ⏎, a space as ``space``, other control characters as ·."""
    if char == "\n":
        return "⏎"
    if char == " ":
        return space
    return char if char.isprintable() else "·"


class SamplingExplorer(FigureController):
    """A GPT's sample coloured by the probability of each character, the candidates at a selected position, and the
    numbers that sum it up (see the module docstring for the layout)."""

    def __init__(self, model, vocab, prompt: str = "\n", n: int = 200, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None, seed: int = 0, position: int = 0,
                 colour_by: str = "sampling"):
        _check_model(model, vocab)
        self.model, self.vocab = model, vocab
        super().__init__(figsize=(WIDTH, HEIGHT), dpi=80)
        self._build_figure()
        self.state = {"prompt": prompt, "n": n, "temperature": temperature, "top_k": 0 if top_k is None else top_k,
                      "top_p": 1.0 if top_p is None else top_p, "seed": seed, "position": position,
                      "colour_by": colour_by}
        self.sample: Sample | None = None
        self._sample_key = None  # the settings self.sample was sampled with
        self._drawn = None  # (settings, colour_by) the text grid shows
        self._validate(self.state)
        self._apply()

    def _build_figure(self) -> None:
        """Every artist, once: the text grid (a colour image of cells, two strings per line), the colour bar, the bars
        and the words."""
        W, H = WIDTH, HEIGHT
        grid_top = 1.0  # inches from the top
        # Each line of the text is drawn as one monospace string, so its characters sit exactly on the cells of the
        # colour image below them when a cell is as wide as one character: measure that width in this figure.
        probe = self.fig.text(0, 0, "M" * COLS, fontsize=FONT_SIZE, family="monospace")
        grid_width = probe.get_window_extent(self.canvas.get_renderer()).width / self.fig.dpi  # inches
        probe.remove()
        self.ax_text = self.fig.add_axes((0.3 / W, 1 - (grid_top + ROWS * ROW_HEIGHT) / H, grid_width / W,
                                          ROWS * ROW_HEIGHT / H))
        self.ax_text.set_xlim(-0.5, COLS - 0.5)
        self.ax_text.set_ylim(ROWS - 0.5, -0.5)
        self.ax_text.axis("off")
        self.cells = self.ax_text.imshow(np.ones((ROWS, COLS, 4)), aspect="auto", interpolation="nearest",
                                         extent=(-0.5, COLS - 0.5, ROWS - 0.5, -0.5))
        # two strings per line: the characters on light cells in black, those on dark cells in white
        self.lines = [{ink: self.ax_text.text(-0.5, r, "", ha="left", va="center", fontsize=FONT_SIZE,
                                              family="monospace", color=ink, parse_math=False)
                       for ink in ("black", "white")} for r in range(ROWS)]
        cax = self.fig.add_axes(((0.45 + grid_width) / W, 1 - (grid_top + ROWS * ROW_HEIGHT) / H, 0.15 / W,
                                 ROWS * ROW_HEIGHT / H))
        self.colour_bar = self.fig.colorbar(ScalarMappable(Normalize(0, 1), CMAP), cax=cax)
        self.title = self.fig.text(0.3 / W, 1 - 0.3 / H, "", fontsize=10, family="monospace", parse_math=False)
        self.stats = self.fig.text(0.3 / W, 1 - 0.45 / H, "", fontsize=9, va="top", family="monospace",
                                   parse_math=False, linespacing=1.5)
        self.frame = Rectangle((-0.5, -0.5), 1, 1, fill=False, edgecolor="red", lw=2)
        self.ax_text.add_patch(self.frame)
        # the candidates at the selected position: TOP + 1 slots (the drawn one may be outside the top TOP)
        bar_top = grid_top + ROWS * ROW_HEIGHT + 0.75
        self.ax_bar = self.fig.add_axes((0.8 / W, 0.55 / H, 5.0 / W, (H - bar_top - 0.55) / H))
        slots = np.arange(TOP + 1)
        self.model_bars = self.ax_bar.bar(slots - 0.2, np.zeros(TOP + 1), width=0.38, color="0.65")
        self.sampling_bars = self.ax_bar.bar(slots + 0.2, np.zeros(TOP + 1), width=0.38, color="C0")
        self.ax_bar.set_xlim(-0.6, TOP + 0.6)
        self.ax_bar.set_ylim(0, 1.05)
        self.ax_bar.set_xticks([])
        self.ax_bar.set_ylabel("probability")
        self.ax_bar.set_title(f"at the framed position: the {TOP} most likely next characters", fontsize=10,
                              loc="left")
        self.ax_bar.legend(handles=[Patch(color="0.65", label="the model's own (T = 1)"),
                                    Patch(color="C0", label="sampling distribution")], fontsize=8, loc="upper right")
        self.bar_labels = [self.ax_bar.text(s, -0.03, "", ha="center", va="top", fontsize=12, family="monospace",
                                            clip_on=False, parse_math=False) for s in slots]
        self.info = self.fig.text(6.3 / W, 1 - bar_top / H, "", fontsize=10, va="top", family="monospace",
                                  parse_math=False, linespacing=1.5)
        self.animate(self.frame, *self.model_bars, *self.sampling_bars, *self.bar_labels, self.info)

    # -- state ---------------------------------------------------------------------------------------------------------
    def _validate(self, state: dict) -> None:
        prompt = state["prompt"]
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a string, got {type(prompt).__name__}")
        if not prompt:
            raise ValueError("prompt is empty: type at least one character for the model to continue")
        unseen = self.vocab.unseen(prompt)
        if unseen and getattr(self.vocab, "unknown", None) is None:
            raise ValueError(f"prompt has characters the model never saw in training: {''.join(unseen)!r}; "
                             "remove or replace them")
        block = self.model.config.block_size
        if len(prompt) > block:
            raise ValueError(f"prompt has {len(prompt)} characters, more than the model reads at once (its context, "
                             f"block_size = {block}): keep at most the last {block}")
        check_integer("n", state["n"], 1, MAX_NEW)
        check_number("temperature", state["temperature"], 0.0, MAX_TEMPERATURE)
        if state["top_k"] is not None:
            check_integer("top_k (0 = off)", state["top_k"], 0, self.model.config.vocab_size)
        top_p = state["top_p"]
        if top_p is not None:
            check_number("top_p (1 = off)", top_p, 0.0, 1.0)
            if top_p == 0:
                raise ValueError("top_p (1 = off) must be in (0, 1], got 0: top-p 0 would keep no character")
        check_integer("seed", state["seed"], 0, MAX_SEED)
        check_integer("position", state["position"], 0, state["n"] - 1)
        check_choice("colour_by", state["colour_by"], COLOUR_BY)

    def set(self, **changes) -> None:
        """As :meth:`FigureController.set`; a new ``n`` also moves the position back inside the new text."""
        n = changes.get("n")
        if "position" not in changes and isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1:
            changes["position"] = min(self.state["position"], int(n) - 1)
        super().set(**changes)

    @property
    def text(self) -> str:
        """The prompt and the sampled characters."""
        return self.sample.text

    def attention(self, last: int = ATTENTION_CHARS) -> tuple[list[str], list[str], np.ndarray]:
        """The attention of the model over the last ``last`` characters of the shown text, for the attention explorer:
        ``attention_explorer(*explorer.attention())``. See :func:`gpt_attention`."""
        return gpt_attention(self.model, self.vocab, self.sample.text, last)

    # -- drawing -------------------------------------------------------------------------------------------------------
    def _forget_drawn(self) -> None:
        self._drawn = None

    def _apply(self) -> None:
        key = _settings_key(self.state)
        if key != self._sample_key:
            prompt, n, temperature, top_k, top_p, seed = key
            self.sample = generate_with_probs(self.model, self.vocab, prompt, n, temperature, top_k, top_p, seed)
            self._sample_key = key
        if self._drawn != (key, self.state["colour_by"]):
            self._draw_text()
            self._drawn = (key, self.state["colour_by"])
        self._show_position()

    def _draw_text(self) -> None:
        """A new sample or colouring: colour the cells, write the characters, the title and the numbers (slow path)."""
        sample, colour_by = self.sample, self.state["colour_by"]
        start = len(sample.prompt)
        p = sample.p_sampling if colour_by == "sampling" else sample.p_model  # (n,)
        colours = CMAP(p)  # (n, 4)
        rgba = np.ones((ROWS, COLS, 4))  # white where there is no character
        ink = {"black": np.full((ROWS, COLS), " "), "white": np.full((ROWS, COLS), " ")}  # the characters by colour
        self._cells = wrap(sample.text)
        for i, (char, cell) in enumerate(zip(sample.text, self._cells)):
            if cell is None:  # a prompt too long for the grid: only its end is shown
                continue
            r, c = cell
            colour = PROMPT_COLOUR if i < start else colours[i - start]
            rgba[r, c] = colour
            dark = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2] < 0.5
            ink["white" if dark else "black"][r, c] = _show(char, space=" ")
        for r, line in enumerate(self.lines):
            for name, text in line.items():
                text.set_text("".join(ink[name][r]).rstrip())
        self.cells.set_data(rgba)
        _, n, temperature, top_k, top_p, seed = self._sample_key
        rule = "greedy" if temperature == 0 else f"T = {temperature:g}"
        cut = "" if self._cells[0] is not None else " (the prompt's start is not shown)"
        self.title.set_text(f"{n} characters sampled after a {start}-character prompt (grey){cut}: {rule}, "
                            f"top-k {top_k or 'off'}, top-p {'off' if top_p is None else f'{top_p:g}'}, seed {seed}")
        lines = []
        for name, probs, words in (("sampling", sample.p_sampling, "sampling distribution (drawn from):"),
                                   ("model", sample.p_model, "the model's own (T = 1):")):
            low = int((probs < LOW_P).sum())
            mark = "▶" if name == colour_by else " "  # the one the colours show
            lines.append(f"{mark} {words:<36} mean log p = {_mean_log(probs):6.2f} nats/char, "
                         f"{low:3d} of {n} drawn with p < {LOW_P:g}")
        self.stats.set_text("\n".join(lines))
        self.colour_bar.set_label("p of each sampled character\n" + ("under the sampling distribution"
                                                                      if colour_by == "sampling"
                                                                      else "under the model's own (T = 1)"))
        self.background_stale = True

    def _show_position(self) -> None:
        """The selected position: its frame, the candidate bars and the words (blitted: the text is not redrawn)."""
        sample, i = self.sample, self.state["position"]
        start = len(sample.prompt)
        r, c = self._cells[start + i]  # sampled characters always have a cell (n <= MAX_NEW < ROWS * COLS)
        self.frame.set_xy((c - 0.5, r - 0.5))
        sampling, own, drawn = sample.sampling[i], sample.model[i], int(sample.ids[i])
        order = np.lexsort((-own, -sampling))  # by the sampling distribution, ties by the model's own
        candidates = [int(k) for k in order[:TOP]]
        if drawn not in candidates:
            candidates.append(drawn)
        chars = self.vocab.chars if hasattr(self.vocab, "chars") else [self.vocab.decode([k]) for k in range(len(own))]
        for slot in range(TOP + 1):
            label = self.bar_labels[slot]
            if slot < len(candidates):
                k = candidates[slot]
                self.model_bars[slot].set_height(own[k])
                self.sampling_bars[slot].set_height(sampling[k])
                label.set_text(_show(chars[k]))
                label.set_color("red" if k == drawn else "black")
                label.set_fontweight("bold" if k == drawn else "normal")
            else:
                self.model_bars[slot].set_height(0)
                self.sampling_bars[slot].set_height(0)
                label.set_text("")
        rank = 1 + int((own > own[drawn]).sum())
        context = sample.text[max(0, start + i - 16) : start + i]
        self.info.set_text(f"position {i}: drew {_show(chars[drawn])!r}\n"
                           f"after {context!r}\n"
                           f"p = {sampling[drawn]:.3f} sampling\n"
                           f"p = {own[drawn]:.3f} model's own,\n"
                           f"    its no. {rank} of {len(own)}")


# ----------------------------------------------------------------------------------------------------------------------
# The view
# ----------------------------------------------------------------------------------------------------------------------

class SamplingView(WidgetView):
    """The explorer's view: a :class:`WidgetView` whose message line says "sampling …" while a new text is drawn."""

    def update(self, **changes) -> bool:
        if not self.closed and any(name in GENERATION_SETTINGS for name in changes):
            self.message.value = "<span style='color:#555'>sampling …</span>"
        return super().update(**changes)


def sampling_explorer(model, vocab, prompt: str = "\n", n: int = 200, temperature: float = 1.0,
                      top_k: int | None = None, top_p: float | None = None, seed: int = 0) -> SamplingView:
    """The widget: a GPT's sample, each character coloured by its probability (see the module docstring).

    ``top_k`` None or 0 and ``top_p`` None or 1 mean "off"; ``temperature`` 0 is greedy decoding. The prompt is read
    when you click outside its box (it may hold newlines); the sliders when released. ``view.controller.attention()``
    gives the last 64 characters' attention for ``widgets.attention.attention_explorer``.
    """
    controller = SamplingExplorer(model, vocab, prompt, n, temperature, top_k, top_p, seed)
    state, wide = controller.state, {"description_width": "initial"}
    controls = {
        "prompt": widgets.Textarea(value=prompt, description="prompt", continuous_update=False, rows=2,
                                   placeholder="type a prompt, then click outside the box"),
        "n": widgets.IntSlider(value=n, min=1, max=MAX_NEW, description="characters", continuous_update=False,
                               style=wide),
        "temperature": widgets.FloatSlider(value=temperature, min=0.0, max=MAX_TEMPERATURE, step=0.05,
                                           description="temperature (0 greedy)", continuous_update=False, style=wide),
        "top_k": widgets.IntSlider(value=state["top_k"], min=0, max=model.config.vocab_size,
                                   description="top-k (0 off)", continuous_update=False, style=wide),
        "top_p": widgets.FloatSlider(value=state["top_p"], min=0.01, max=1.0, step=0.01, description="top-p (1 off)",
                                     continuous_update=False, style=wide),
        "seed": widgets.IntText(value=seed, description="seed", layout=widgets.Layout(width="160px")),
        "position": widgets.IntSlider(value=0, min=0, max=n - 1, description="position"),
        "colour_by": widgets.ToggleButtons(options=[("sampling p", "sampling"), ("model's own p", "model")],
                                           value="sampling", description="colour by"),
    }
    again = widgets.Button(description="new sample (seed + 1)")
    view = SamplingView(controller, controls, extras=[again])

    def next_seed(_):
        controls["seed"].value = controller.state["seed"] + 1

    def follow_n(change):  # after the view's own handler: the position slider spans the new text
        controls["position"].max = controller.state["n"] - 1
        controls["position"].value = controller.state["position"]

    again.on_click(next_seed)
    controls["n"].observe(follow_n, names="value")
    view.again = again
    return view
