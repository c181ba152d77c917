"""The fill-mask explorer (notebook 08): what a masked language model puts in each blank, and where it looked.

Type a sentence with ``[MASK]`` where a word is missing, or pick a word of the sentence to hide; the model fills every
blank at once, from the words on *both* sides. The figure shows, for each blank (at most ``MAX_MASKS``), the ``k``
most probable tokens with their probabilities; below it, 05's attention explorer shows the model's attention maps on
that same input, layer × head.

* :func:`fill_mask` is the computation, usable without a widget: ``fill_mask(model, tokenizer, text, hide=None, k=8)``
  -> :class:`FillMask`. It raises a clear ``ValueError`` for an empty text, a text longer than the model's positions,
  a word to hide that the sentence does not have, and a sentence with nothing to fill in.
* :class:`FillMaskChart` is the controller (state ``text`` and ``hide``, one persistent figure); :func:`fill_mask_explorer`
  builds the widget: a text box, a "hide" dropdown with the sentence's words, the chart and the attention explorer.

A sentence without a blank is accepted by the widget (so that its words appear in the "hide" list) and the message line
says what to do; everything else that :func:`fill_mask` refuses is refused, and the widget keeps its last good picture.
"""
from __future__ import annotations

import base64
import html
import io
import re
from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
import torch
from PIL import Image as PILImage

from .. import bert
from ..train import eval_mode
from .attention import attention_explorer
from .base import CLOSED_MESSAGE, FigureController, WidgetView, check_integer

MAX_MASKS = 3  # blanks drawn side by side
NO_BLANK = ("nothing to fill in: a masked language model predicts the tokens hidden by [MASK] (from the words on both "
            "sides); it does not continue a text. Write [MASK] where a word is missing, e.g. 'to be or not to [MASK]', "
            "or pick a word to hide")


@dataclass(eq=False)
class FillMask:
    """What the model predicts for one input.

    ``tokens``: the input as the model sees it (``[CLS] … [SEP]``, blanks as ``[MASK]``); ``masks``: the blanks'
    positions; ``hidden``: what was at each blank (the hidden word's piece, or ``None`` for a ``[MASK]`` typed in the
    text); ``top_tokens[i]`` / ``top_probs[i]``: the ``k`` most probable tokens for blank ``i`` and their
    probabilities (softmax over the whole vocabulary); ``attentions``: ``(layers, heads, T, T)``; ``text``: the input
    as text, the hidden word replaced by as many ``[MASK]`` as it has pieces.
    """
    tokens: list[str]
    masks: list[int]
    hidden: list[str | None]
    top_tokens: list[list[str]]
    top_probs: np.ndarray
    attentions: np.ndarray
    text: str


def _check_model(model, tokenizer) -> None:
    if not isinstance(model, bert.BertForPreTraining):
        raise TypeError(f"model must be a bert.BertForPreTraining (it needs the masked-LM head), got "
                        f"{type(model).__name__}")
    if not hasattr(tokenizer, "encode") or not hasattr(tokenizer, "get_vocab_size"):
        raise TypeError(f"tokenizer must be a tokenizers.Tokenizer (bert.wordpiece_tokenizer()), got "
                        f"{type(tokenizer).__name__}")
    if tokenizer.get_vocab_size() != model.encoder.vocab_size:
        raise ValueError(f"the tokenizer has {tokenizer.get_vocab_size()} tokens, the model {model.encoder.vocab_size}:"
                         f" they were not made together")


def _word_positions(encoding) -> list[list[int]]:
    """The token positions of each word that can be hidden, words in order (a typed ``[MASK]`` is not one of them)."""
    positions: dict[int, list[int]] = {}
    for k, (word, token) in enumerate(zip(encoding.word_ids, encoding.ids)):
        if word is not None and token != bert.MASK_ID:
            positions.setdefault(word, []).append(k)
    return list(positions.values())


def words(tokenizer, text: str) -> list[str]:
    """The words of ``text`` that can be hidden, in order (a typed ``[MASK]`` is not one of them)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    encoding = tokenizer.encode(text)
    return [text[encoding.offsets[ks[0]][0] : encoding.offsets[ks[-1]][1]] for ks in _word_positions(encoding)]


def encode(tokenizer, text, max_len: int, hide: int | None = None) -> tuple[list[int], list[str | None], str]:
    """``text`` as token ids with word number ``hide`` (of :func:`words`) replaced by ``[MASK]`` (one per piece).

    Returns ``(ids, hidden, masked_text)``: ``hidden`` holds, for every ``[MASK]`` in order, the piece it hides (``None``
    for one typed in the text). Raises ``ValueError`` for an empty text or one longer than ``max_len`` tokens.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    if not text.strip():
        raise ValueError("the text is empty: type a sentence, with [MASK] where a word is missing")
    text = re.sub(r"\[mask\]", "[MASK]", text, flags=re.IGNORECASE)  # "[mask]" typed in lower case is a blank too
    encoding = tokenizer.encode(text)
    ids, tokens = list(encoding.ids), list(encoding.tokens)
    if len(ids) > max_len:
        raise ValueError(f"the text is {len(ids)} tokens long with [CLS] and [SEP], the model has {max_len} positions:"
                         f" shorten it by at least {len(ids) - max_len} tokens")
    hidden: list[str | None] = [None] * len(ids)
    masked_text = text
    if hide is not None:
        hideable = _word_positions(encoding)  # as words() lists them
        if not hideable:
            raise ValueError("hide: the text has no word to hide")
        check_integer("hide", hide, 0, len(hideable) - 1)
        pieces = hideable[hide]
        for k in pieces:
            hidden[k], ids[k] = tokens[k], bert.MASK_ID
        start, end = encoding.offsets[pieces[0]][0], encoding.offsets[pieces[-1]][1]
        before, after = text[:start], text[end:]
        masked_text = (before + (" " if before and not before[-1].isspace() else "") + " ".join(["[MASK]"] * len(pieces))
                       + (" " if after and not after[0].isspace() else "") + after)
    return ids, [hidden[k] for k, t in enumerate(ids) if t == bert.MASK_ID], masked_text


def fill_mask(model, tokenizer, text: str, hide: int | None = None, k: int = 8) -> FillMask:
    """Fill the blanks of ``text``: every ``[MASK]`` typed in it, and word number ``hide`` (of :func:`words`).

    The model sees the whole input at once and predicts every blank from both sides: ``softmax(mlm_head(h_i))`` at each
    blank position ``i``. Returns a :class:`FillMask` with the ``k`` most probable tokens per blank.
    """
    _check_model(model, tokenizer)
    check_integer("k", k, 1, 50)
    ids, hidden, masked_text = encode(tokenizer, text, model.encoder.max_len, hide)
    masks = [i for i, t in enumerate(ids) if t == bert.MASK_ID]
    if not masks:
        raise ValueError(NO_BLANK)
    if len(masks) > MAX_MASKS:
        raise ValueError(f"the text has {len(masks)} blanks ([MASK] tokens, a hidden word counting one per piece); "
                         f"this explorer shows at most {MAX_MASKS}")
    with torch.no_grad(), eval_mode(model):
        h, attentions = model.encoder(torch.tensor([ids]))  # (1, T, d_model), one (1, heads, T, T) per layer
        probs = torch.softmax(model.mlm_head(h[0, masks]).double(), dim=-1)  # (blanks, V)
    top = probs.topk(k, dim=-1)
    return FillMask(tokens=[tokenizer.id_to_token(t) for t in ids], masks=masks, hidden=hidden,
                    top_tokens=[[tokenizer.id_to_token(int(t)) for t in row] for row in top.indices],
                    top_probs=top.values.numpy(), attentions=torch.stack(attentions)[:, 0].double().numpy(),
                    text=masked_text)


def attention_input(model, tokenizer, text: str) -> tuple[list[str], list[str], np.ndarray]:
    """``text`` -> ``(tokens, tokens, attentions (layers, heads, T, T))``: what the attention explorer shows.

    ``model`` is a :class:`bert.BertEncoder` or a :class:`bert.BertForPreTraining`; ``tokenizer`` a
    ``tokenizers.Tokenizer`` that adds ``[CLS]``/``[SEP]`` (the course's, or a pretrained model's ``tokenizer.json``).
    """
    encoder = model.encoder if isinstance(model, bert.BertForPreTraining) else model
    if not isinstance(encoder, bert.BertEncoder):
        raise TypeError(f"model must be a bert.BertEncoder or bert.BertForPreTraining, got {type(model).__name__}")
    ids, _, _ = encode(tokenizer, text, encoder.max_len)
    with torch.no_grad(), eval_mode(encoder):
        _, attentions = encoder(torch.tensor([ids]))
    tokens = [tokenizer.id_to_token(t) for t in ids]
    return tokens, tokens, torch.stack(attentions)[:, 0].double().numpy()


class FillMaskChart(FigureController):
    """The top-``k`` predictions for each blank, one bar chart per blank; the input above them, blanks in brackets.

    State: ``text`` (a string) and ``hide`` (``-1``: only the ``[MASK]`` typed in the text; ``i``: also hide word ``i``
    of :func:`words`). A text without a blank is accepted with ``notice`` set (the charts are emptied); any other bad
    value is refused (``ValueError``/``TypeError``) and the chart keeps its last good state.
    """

    def __init__(self, model, tokenizer, text: str, hide: int = -1, k: int = 8):
        _check_model(model, tokenizer)
        check_integer("k", k, 1, 20)
        self.model, self.tokenizer, self.k = model, tokenizer, k
        self.result: FillMask | None = None
        self.notice = ""
        self.words: list[str] = []
        super().__init__(figsize=(10.5, 1.2 + 0.3 * k), dpi=80)
        self.axes = [self.fig.add_subplot(1, MAX_MASKS, i + 1) for i in range(MAX_MASKS)]
        self.fig.subplots_adjust(left=0.09, right=0.98, top=1 - 0.75 / (1.2 + 0.3 * k), bottom=0.4 / (1.2 + 0.3 * k),
                                 wspace=0.55)
        self.bars = []
        for ax in self.axes:
            self.bars.append(ax.barh(range(k), np.zeros(k), color="C0"))
            ax.set_xlim(0, 1)
            ax.invert_yaxis()  # the most probable on top
            ax.set_xlabel("probability", fontsize=9)
        self.values = [[ax.text(0, i, "", va="center", fontsize=8) for i in range(k)] for ax in self.axes]
        self.headline = self.fig.text(0.01, 1 - 0.2 / (1.2 + 0.3 * k), "", fontsize=10, family="monospace",
                                      va="top")
        self.state = {"text": text, "hide": hide}
        self._validate(self.state)
        self._apply()

    def _validate(self, state: dict) -> None:
        text, hide = state["text"], state["hide"]
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        check_integer("hide", hide, -1, 10_000)
        try:
            self.result = fill_mask(self.model, self.tokenizer, text, None if hide == -1 else hide, self.k)
            self.notice = ""
        except ValueError as exc:
            if str(exc) != NO_BLANK:
                raise
            self.result, self.notice = None, NO_BLANK
        self.words = words(self.tokenizer, text)

    def set(self, **changes) -> None:
        if "text" in changes and "hide" not in changes and changes["text"] != self.state["text"]:
            changes["hide"] = -1  # a new sentence: its own [MASK], whatever word of the old one was hidden
        super().set(**changes)

    def _apply(self) -> None:
        result = self.result
        n = len(result.masks) if result else 0
        for i, (ax, bars, values) in enumerate(zip(self.axes, self.bars, self.values)):
            ax.set_visible(i < n)
            if i >= n:
                continue
            probs, names = result.top_probs[i], result.top_tokens[i]
            for bar, label, p in zip(bars, values, probs):
                bar.set_width(p)
                label.set_x(p + 0.02)
                label.set_text(f"{p:.2f}")
            hidden = result.hidden[i]
            colours = ["C2" if name == hidden else "C0" for name in names]  # the hidden piece, when it is in the top k
            for bar, colour in zip(bars, colours):
                bar.set_color(colour)
            ax.set_yticks(range(self.k), names, fontsize=9, family="monospace")
            was = f" (hidden: {hidden!r})" if hidden is not None else ""
            ax.set_title(f"blank {i + 1}, position {result.masks[i]}{was}", fontsize=9)
        if result is None:
            self.headline.set_text("no blank: write [MASK] in the sentence, or pick a word to hide")
        else:
            blank = {position: n + 1 for n, position in enumerate(result.masks)}  # numbered as the charts are
            shown = " ".join(f"[MASK{blank[i]}]" if i in blank else t for i, t in enumerate(result.tokens))
            self.headline.set_text(shown if len(shown) <= 110 else shown[:107] + "...")
        self.background_stale = True


class FillMaskExplorer:
    """The fill-mask chart with its controls, and 05's attention explorer on the same input below it.

    ``update(text=..., hide=...)`` changes the input as the controls do; the "hide" list and the attention explorer
    follow every accepted change. ``close()`` closes both.
    """

    def __init__(self, model, tokenizer, text: str, k: int = 8):
        chart = FillMaskChart(model, tokenizer, text, k=k)
        self.text = widgets.Text(value=text, description="sentence", continuous_update=False,
                                 placeholder="type a sentence with [MASK] and press Enter",
                                 layout=widgets.Layout(width="60%"))
        self.hide = widgets.Dropdown(options=self._options(chart), value=-1, description="hide")
        self.fill = WidgetView(chart, {}, extras=[self.text, self.hide])  # the controls are wired here, below
        self._show_notice()
        shown = chart.result.text if chart.result else text
        tokens, _, weights = attention_input(model, tokenizer, shown)
        self.attention = attention_explorer(tokens, tokens, weights, text=shown, text_box=False,
                                            compute=lambda t: attention_input(model, tokenizer, t))
        self._syncing = False
        self.text.observe(lambda change: self._from_control(text=change["new"]), names="value")
        self.hide.observe(lambda change: self._from_control(hide=change["new"]), names="value")
        self.box = widgets.VBox([self.fill.box, self.attention.box])

    @staticmethod
    def _options(chart: FillMaskChart) -> list[tuple[str, int]]:
        return [("nothing ([MASK] as typed)", -1)] + [(f"{i}: {w}", i) for i, w in enumerate(chart.words)]

    def _from_control(self, **changes) -> None:
        if not self._syncing:  # a change the explorer made itself (below) is not a learner's input
            self.update(**changes)

    def _show_notice(self) -> None:
        notice = self.fill.controller.notice
        if notice:
            self.fill.message.value = f"<span style='color:#a60'>ⓘ {html.escape(notice)}</span>"

    def update(self, **changes) -> bool:
        """Set ``text`` and/or ``hide`` as the controls do; returns whether the chart accepted them. A refused value
        is named in the message line; the chart, the "hide" list and the attention explorer keep the last good input
        (the sentence box keeps what was typed, to be corrected)."""
        if self.fill.closed:
            raise RuntimeError(CLOSED_MESSAGE)
        accepted = self.fill.update(**changes)
        if not accepted:
            return False
        self._show_notice()
        chart = self.fill.controller
        self._syncing = True
        try:
            options = self._options(chart)
            if list(self.hide.options) != options:
                self.hide.options = options
            self.hide.value = chart.state["hide"]
            self.text.value = chart.state["text"]
        finally:
            self._syncing = False
        followed = self.attention.update(text=chart.result.text if chart.result else chart.state["text"])
        self.attention.resize_step(None)  # the step slider spans the new input
        return followed

    @property
    def closed(self) -> bool:
        return self.fill.closed

    def close(self) -> None:
        self.fill.close()  # the sentence box and the "hide" list with it
        self.attention.close()
        self.box.close()

    def png(self) -> bytes:
        """The chart above the attention explorer, as one PNG (the notebook's static picture)."""
        top = PILImage.open(io.BytesIO(self.fill.controller.png()))
        bottom = PILImage.open(io.BytesIO(self.attention.controller.png()))
        both = PILImage.new("RGBA", (max(top.width, bottom.width), top.height + bottom.height), "white")
        both.paste(top, (0, 0))
        both.paste(bottom, (0, top.height))
        buf = io.BytesIO()
        both.save(buf, format="png", compress_level=1)
        return buf.getvalue()

    def _repr_mimebundle_(self, **kwargs):
        if self.closed:
            return self.fill._repr_mimebundle_(**kwargs)
        bundle = self.box._repr_mimebundle_(**kwargs)
        bundle["image/png"] = base64.b64encode(self.png()).decode("ascii")
        return bundle


def fill_mask_explorer(model, tokenizer, text: str = "to be, or not to [MASK]: that is the question", k: int = 8
                       ) -> FillMaskExplorer:
    """The widget: a sentence box (Enter runs the model), a "hide" list of its words, the top-``k`` predictions for
    every blank, and the attention explorer on the same input. See the module docstring."""
    return FillMaskExplorer(model, tokenizer, text, k)
