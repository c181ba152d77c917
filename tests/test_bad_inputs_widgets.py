"""Bad and edge-case inputs of the widget controllers and views (issue #15): one table row per thing a learner does.

Each row expects a clear ``ValueError``/``TypeError`` whose message names the setting (and the fix where there is one),
or the correct result. Rows with ``state=`` also check that a refused value leaves the widget as it was: its ``state``
and the picture it shows (the PNG, byte for byte). Rows named "... then valid" check that a valid value after a refused
one (or after a failure inside drawing) is drawn correctly: one bad value must not break the widget.

Controllers are shared between rows where the row leaves them unchanged (refused values), and built fresh where a row
changes them, so the rows do not depend on their order.
"""
from __future__ import annotations

import html

import numpy as np
import pytest
import torch

from badinput import Case, ids, model_state, run_case
from course_lib import rnn
from course_lib.data import CharVocab
from course_lib.widgets import (ActivationExplorer, FigureController, PredictionExplorer, WidgetView,
                                activation_explorer, prediction_explorer)
from course_lib.widgets.activations import activation_and_derivative
from course_lib.widgets.base import check_choice, check_integer, check_number
from course_lib.widgets.gates import (MAX_CHARS, GateExplorer, gate_explorer, rank_units, record_gates,
                                      text_properties)

TEXT = "Hamlet:\nTo be, or not to be: that is the question.\n\nOphelia:\nGood my lord,\nHow does your honour?\n"
SAMPLE = TEXT * 4 + "$5, $$6\n"  # '$' is in Shakespeare's vocabulary too


def once(make):
    """A lazily built shared object: ``get()`` builds it on first use (at test time, not at collection)."""
    box = []

    def get():
        if not box:
            box.append(make())
        return box[0]

    return get


def _raise(exc):
    raise exc


def refused_then(first, then):
    """Call ``first`` (which must raise ValueError/TypeError), then ``then``; return what ``then`` returns."""
    try:
        first()
    except (ValueError, TypeError):
        pass
    else:
        raise AssertionError("the first call was not refused")
    return then()


def shown(c) -> tuple:
    """A widget controller's snapshot: its state and its picture."""
    return dict(c.state), c.png()


def view_shown(v) -> tuple:
    return dict(v.controller.state), v.image.value


# ---------------------------------------------------------------------------------------------- activation explorer
ACT = once(lambda: ActivationExplorer("tanh", x0=1.0))
ACT_VIEW = once(lambda: activation_explorer("tanh", x0=1.0))


def _act_values(name, x0, leak=0.1):
    (f,), (df,) = activation_and_derivative(name, np.array([x0]), leak)
    return f, df


def _leaky_after_bad_leak():
    c = ActivationExplorer("leaky ReLU", x0=1.0, leak=0.1)
    return refused_then(lambda: c.set(leak=torch.tensor(0.2)), lambda: (c.set(x0=-2.0), c.values_at_x0, c.state)[1:])


def _act_view_after_bad_value():
    v = activation_explorer("sigmoid", x0=0.0)
    before = v.image.value
    ok = v.update(x0=torch.tensor(1.0))
    message = v.message.value
    return ok, message, v.image.value == before, v.update(x0=2.0), v.message.value, v.controller.values_at_x0


ACTIVATION_CASES = [
    Case("act x0 out of range", lambda: ACT().set(x0=9), raises=ValueError, match=r"x0 must be in \[-5.0, 5.0\], got 9",
         state=lambda: shown(ACT())),
    Case("act x0 nan", lambda: ACT().set(x0=float("nan")), raises=ValueError, match=r"x0 must be in .*got nan",
         state=lambda: shown(ACT())),
    Case("act x0 inf", lambda: ACT().set(x0=float("inf")), raises=ValueError, match=r"x0 must be in .*got inf",
         state=lambda: shown(ACT())),
    Case("act x0 tensor", lambda: ACT().set(x0=torch.tensor(2.0)), raises=TypeError,
         match=r"x0 must be a number .*Tensor.*\.item\(\)", state=lambda: shown(ACT())),
    Case("act x0 array", lambda: ACT().set(x0=np.array([2.0])), raises=TypeError, match=r"x0 must be a number .*ndarray",
         state=lambda: shown(ACT())),
    Case("act x0 string", lambda: ACT().set(x0="1.5"), raises=TypeError, match=r"x0 must be a number .*str",
         state=lambda: shown(ACT())),
    Case("act x0 bool", lambda: ACT().set(x0=True), raises=TypeError, match=r"x0 must be a number .*bool",
         state=lambda: shown(ACT())),
    Case("act x0 None", lambda: ACT().set(x0=None), raises=TypeError, match=r"x0 must be a number .*NoneType",
         state=lambda: shown(ACT())),
    Case("act leak negative", lambda: ACT().set(leak=-0.1), raises=ValueError, match=r"leak must be in \[0.0, 0.5\]",
         state=lambda: shown(ACT())),
    Case("act leak tensor", lambda: ACT().set(leak=torch.tensor(0.2)), raises=TypeError, match=r"leak must be a number",
         state=lambda: shown(ACT())),
    Case("act unknown name", lambda: ACT().set(name="swish"), raises=ValueError,
         match=r"name must be one of the activation options .*got 'swish'", state=lambda: shown(ACT())),
    Case("act name wrong case", lambda: ACT().set(name="relu"), raises=ValueError, match=r"did you mean 'ReLU'\?",
         state=lambda: shown(ACT())),
    Case("act name a function", lambda: ACT().set(name=torch.tanh), raises=TypeError,
         match=r"name must be one of the activation options .*builtin_function", state=lambda: shown(ACT())),
    Case("act unknown setting", lambda: ACT().set(colour="red"), raises=TypeError, match=r"unknown setting.*colour",
         state=lambda: shown(ACT())),
    Case("act numpy float x0", lambda: (lambda c: (c.set(x0=np.float32(0.5)), c.values_at_x0)[1])(ActivationExplorer()),
         returns=lambda r: np.allclose(r, _act_values("tanh", 0.5))),
    Case("act int x0", lambda: (lambda c: (c.set(x0=-2), c.values_at_x0)[1])(ActivationExplorer()),
         returns=lambda r: np.allclose(r, (np.tanh(-2), 1 - np.tanh(-2) ** 2))),
    Case("act bad leak then valid x0", _leaky_after_bad_leak,  # the refused leak must not reach later updates
         returns=lambda r: np.allclose(r[0], (-0.2, 0.1)) and r[1] == {"name": "leaky ReLU", "x0": -2.0, "leak": 0.1}),
    Case("act view tensor then valid", _act_view_after_bad_value,
         returns=lambda r: r[0] is False and "x0 must be a number" in r[1] and r[2] and r[3] is True and r[4] == ""
         and np.allclose(r[5], _act_values("sigmoid", 2.0))),
    Case("act view refused keeps picture", lambda: ACT_VIEW().update(x0=torch.tensor(3.0)),
         returns=lambda r: r is False and "x0" in ACT_VIEW().message.value, state=lambda: view_shown(ACT_VIEW())),
    Case("act factory x0 out of range", lambda: activation_explorer("tanh", x0=7.0), raises=ValueError,
         match=r"x0 must be in \[-5.0, 5.0\], got 7.0"),
    Case("act fn unknown name", lambda: activation_and_derivative("Tanh", np.zeros(3)), raises=ValueError,
         match=r"name must be one of .*did you mean 'tanh'"),
    Case("act fn tensor x", lambda: activation_and_derivative("sigmoid", torch.tensor([0.0, 2.0])),
         returns=lambda r: np.allclose(r[0], [0.5, 1 / (1 + np.exp(-2))]) and r[1].shape == (2,)),
    Case("act fn text x", lambda: activation_and_derivative("tanh", "abc"), raises=TypeError, match=r"x must be numbers"),
    Case("act fn leak tensor", lambda: activation_and_derivative("leaky ReLU", np.zeros(2), torch.tensor(0.1)),
         raises=TypeError, match=r"leak must be a number"),
]

# --------------------------------------------------------------------------------------------- prediction explorer
N, CLASSES = 30, ["a", "b", "c"]


def _data():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(N, 28, 28, generator=g)
    labels = torch.arange(N) % 3
    logits = 3 * torch.randn(N, 3, generator=g)
    return images, torch.softmax(logits, dim=1), labels, logits


IMAGES, PROBS, LABELS, LOGITS = _data()
PRED = once(lambda: PredictionExplorer(IMAGES, PROBS, LABELS, CLASSES))
ALL_RIGHT = PROBS.argmax(1)  # labels that make every prediction right: no mistakes


def _pred_after_bad_index():
    c = PredictionExplorer(IMAGES, PROBS, LABELS, CLASSES)
    return refused_then(lambda: c.set(index=torch.tensor(4)),
                        lambda: (c.set(index=4), c.image_number, [b.get_width() for b in c.bars],
                                 c.ax_bar.get_title())[1:])


def _pred_title(probs):
    c = PredictionExplorer(IMAGES, probs, LABELS, CLASSES, index=2)
    return c.ax_bar.get_title()


PREDICTION_CASES = [
    Case("pred logits as probs", lambda: PredictionExplorer(IMAGES, LOGITS, LABELS, CLASSES), raises=ValueError,
         match=r"probs must be probabilities.*torch\.softmax\(logits, dim=1\)"),
    Case("pred probs not summing to 1", lambda: PredictionExplorer(IMAGES, torch.sigmoid(LOGITS), LABELS, CLASSES),
         raises=ValueError, match=r"probs must be probabilities: each row in \[0, 1\] and summing to 1"),
    Case("pred probs nan", lambda: PredictionExplorer(IMAGES, PROBS.clone().index_fill_(0, torch.tensor([3]), float("nan")),
                                                      LABELS, CLASSES), raises=ValueError, match=r"probs contain NaN"),
    Case("pred probs too few columns", lambda: PredictionExplorer(IMAGES, PROBS[:, :2], LABELS, CLASSES),
         raises=ValueError, match=r"probs must have shape \(N, C\) = \(30, 3\).*got \(30, 2\)"),
    Case("pred probs transposed", lambda: PredictionExplorer(IMAGES, PROBS.T, LABELS, CLASSES), raises=ValueError,
         match=r"probs must have shape \(N, C\) = \(30, 3\).*got \(3, 30\)"),
    Case("pred fewer class names", lambda: PredictionExplorer(IMAGES, PROBS, LABELS, CLASSES[:2]), raises=ValueError,
         match=r"probs must have shape \(N, C\) = \(30, 2\)"),
    Case("pred classes a string", lambda: PredictionExplorer(IMAGES, PROBS, LABELS, "abc"), raises=TypeError,
         match=r"classes must be a list of class names"),
    Case("pred half-precision probs", lambda: _pred_title(PROBS.half()),  # rows sum to 1 within rounding: accepted
         returns=lambda r: r.startswith("predicted ") and "%" in r),
    Case("pred title is a probability", lambda: _pred_title(PROBS),  # what logits made read "626%"
         returns=lambda r: r == f"predicted {CLASSES[int(PROBS[2].argmax())]} ({float(PROBS[2].max()):.0%}) - "
                               f"{'right' if int(PROBS[2].argmax()) == 2 else 'wrong'}"),
    Case("pred labels (N, 1)", lambda: PredictionExplorer(IMAGES, PROBS, LABELS[:, None], CLASSES), raises=ValueError,
         match=r"labels must have shape \(N,\) = \(30,\).*got \(30, 1\); pass labels\.reshape\(-1\)"),
    Case("pred labels one-hot", lambda: PredictionExplorer(IMAGES, PROBS, torch.eye(3)[LABELS], CLASSES),
         raises=ValueError, match=r"labels must have shape.*one-hot labels: pass labels\.argmax\(1\)"),
    Case("pred label too large", lambda: PredictionExplorer(IMAGES, PROBS, LABELS + 1, CLASSES), raises=ValueError,
         match=r"labels must be class indices in \[0, 2\].*got values in \[1, 3\]"),
    Case("pred label -1", lambda: PredictionExplorer(IMAGES, PROBS, LABELS - 1, CLASSES), raises=ValueError,
         match=r"labels must be class indices in \[0, 2\]"),
    Case("pred float labels", lambda: PredictionExplorer(IMAGES, PROBS, LABELS.float(), CLASSES),
         returns=lambda c: c.labels.dtype == np.int64 and np.array_equal(c.subsets["mistakes"],
                                                                          PredictionExplorer(IMAGES, PROBS, LABELS,
                                                                                             CLASSES).subsets["mistakes"])),
    Case("pred fractional labels", lambda: PredictionExplorer(IMAGES, PROBS, LABELS + 0.5, CLASSES), raises=TypeError,
         match=r"labels must be integer class indices, got dtype float32"),
    Case("pred flattened images", lambda: PredictionExplorer(IMAGES.reshape(N, -1), PROBS, LABELS, CLASSES),
         raises=ValueError, match=r"images must have shape .*got \(30, 784\); flattened images: pass "
                                  r"images\.reshape\(-1, 28, 28\)"),
    Case("pred one image", lambda: PredictionExplorer(IMAGES[0], PROBS, LABELS, CLASSES), raises=ValueError,
         match=r"images must have shape \(N, height, width\)"),
    Case("pred channel images", lambda: PredictionExplorer(IMAGES[:, None], PROBS, LABELS, CLASSES, index=7),
         returns=lambda c: np.array_equal(c.picture.get_array(), IMAGES[7].numpy())),
    Case("pred numpy inputs", lambda: PredictionExplorer(IMAGES.numpy(), PROBS.numpy(), LABELS.numpy(), CLASSES, 5),
         returns=lambda c: c.image_number == 5 and np.allclose([b.get_width() for b in c.bars], PROBS[5].numpy())),
    Case("pred uint8 images", lambda: PredictionExplorer((IMAGES * 255).to(torch.uint8), PROBS, LABELS, CLASSES, 1),
         returns=lambda c: np.array_equal(c.picture.get_array(), (IMAGES[1] * 255).to(torch.uint8).float().numpy())),
    Case("pred images a list", lambda: PredictionExplorer(IMAGES.tolist(), PROBS, LABELS, CLASSES), raises=TypeError,
         match=r"images must be a torch\.Tensor or a NumPy array, got list"),
    Case("pred images nan", lambda: PredictionExplorer(IMAGES.clone().fill_(float("nan")), PROBS, LABELS, CLASSES),
         raises=ValueError, match=r"images contain NaN"),
    Case("pred no images", lambda: PredictionExplorer(IMAGES[:0], PROBS[:0], LABELS[:0], CLASSES), raises=ValueError,
         match=r"images is empty"),
    Case("pred index past the end", lambda: PRED().set(index=N), raises=ValueError,
         match=r"index must be an integer in \[0, 29\], got 30", state=lambda: shown(PRED())),
    Case("pred index -1", lambda: PRED().set(index=-1), raises=ValueError, match=r"index must be an integer in \[0, 29\]",
         state=lambda: shown(PRED())),
    Case("pred index float", lambda: PRED().set(index=2.0), raises=TypeError, match=r"index must be an integer .*float",
         state=lambda: shown(PRED())),
    Case("pred index tensor", lambda: PRED().set(index=torch.tensor(3)), raises=TypeError,
         match=r"index must be an integer .*Tensor.*\.item\(\)", state=lambda: shown(PRED())),
    Case("pred index bool", lambda: PRED().set(index=True), raises=TypeError, match=r"index must be an integer .*bool",
         state=lambda: shown(PRED())),
    Case("pred unknown show", lambda: PRED().set(show="errors"), raises=ValueError,
         match=r"show must be one of the options \['all', 'mistakes'\], got 'errors'", state=lambda: shown(PRED())),
    Case("pred no mistakes to show", lambda: PredictionExplorer(IMAGES, PROBS, ALL_RIGHT, CLASSES).set(show="mistakes"),
         raises=ValueError, match=r"show='mistakes': there are no mistakes to show"),
    Case("pred bad index then valid", _pred_after_bad_index,
         returns=lambda r: r[0] == 4 and np.allclose(r[1], PROBS[4].numpy()) and r[2].startswith("predicted")),
    Case("pred factory bad index", lambda: prediction_explorer(IMAGES, PROBS, LABELS, CLASSES, index=99),
         raises=ValueError, match=r"index must be an integer in \[0, 29\], got 99"),
]

# -------------------------------------------------------------------------------------------------- gate explorers
VOCAB = once(lambda: CharVocab.from_text(SAMPLE))


def _model(cell="lstm", hidden=16, vocab=None):
    torch.manual_seed(0)
    return rnn.CharLM(vocab_size=len(vocab or VOCAB()), cell=cell, emb=8, hidden=hidden)


LSTM = once(lambda: _model("lstm"))
GATES = once(lambda: GateExplorer(LSTM(), VOCAB(), TEXT[:40], SAMPLE))
GRU_VIEW = once(lambda: gate_explorer(_model("gru"), VOCAB(), {"first": TEXT[:40], "second": TEXT[40:90]}, SAMPLE))


def _spaces():
    c = GateExplorer(LSTM(), VOCAB(), TEXT[:20], SAMPLE)
    c.set(text="   ", step=1)
    return c


def _gates_after_bad_text():
    c = GateExplorer(LSTM(), VOCAB(), TEXT[:40], SAMPLE)
    refused_then(lambda: c.set(text="Good €uro"), lambda: c.set(step=5))
    units = c.shown_units["h"]
    expected = record_gates(LSTM(), VOCAB(), TEXT[:40])["h"][5, units]
    return c.state, c.markers[0].get_x(), [b.get_width() for b in c.bars[-1]], expected


def _broken_stack(x, state=None, return_gates=False):
    """A recurrent stack that fails after record_gates has put the model in eval mode."""
    raise RuntimeError("broken recurrent stack")


def _gru_view_after_bad_prop():
    v = gate_explorer(_model("gru"), VOCAB(), {"first": TEXT[:40]}, SAMPLE)
    ok = v.update(prop="Vowel")
    message = html.unescape(v.message.value)
    return ok, message, v.update(prop="vowel"), "'vowel'" in v.controller.ranking_note.get_text()


GATE_CASES = [
    Case("gates text of spaces", _spaces,  # spaces are characters the model reads, not an empty text
         returns=lambda c: c.state["text"] == "   " and c.gates["h"].shape == (3, 16)
         and "space" in c.title.get_text()),
    Case("gates empty text", lambda: GATES().set(text=""), raises=ValueError, match=r"text is empty",
         state=lambda: shown(GATES())),
    Case("gates text None", lambda: GATES().set(text=None), raises=TypeError, match=r"text must be a string, got NoneType",
         state=lambda: shown(GATES())),
    Case("gates unseen characters", lambda: GATES().set(text="Good €uro"), raises=ValueError,
         match=r"text has characters the model never saw in training: '€'", state=lambda: shown(GATES())),
    Case("gates text too long", lambda: GATES().set(text="a" * (MAX_CHARS + 1)), raises=ValueError,
         match=rf"text has {MAX_CHARS + 1} characters; the explorer shows at most {MAX_CHARS}",
         state=lambda: shown(GATES())),
    Case("gates step past the end", lambda: GATES().set(step=40), raises=ValueError,
         match=r"step must be an integer in \[0, 39\], got 40", state=lambda: shown(GATES())),
    Case("gates step -1", lambda: GATES().set(step=-1), raises=ValueError, match=r"step must be an integer in \[0, 39\]",
         state=lambda: shown(GATES())),
    Case("gates step float", lambda: GATES().set(step=2.0), raises=TypeError, match=r"step must be an integer .*float",
         state=lambda: shown(GATES())),
    Case("gates step tensor", lambda: GATES().set(step=torch.tensor(2)), raises=TypeError,
         match=r"step must be an integer .*Tensor", state=lambda: shown(GATES())),
    Case("gates step past a new text", lambda: GATES().set(text="To be", step=7), raises=ValueError,
         match=r"step must be an integer in \[0, 4\], got 7", state=lambda: shown(GATES())),
    Case("gates unknown prop", lambda: GATES().set(prop="rhyme"), raises=ValueError,
         match=r"prop must be one of the property options", state=lambda: shown(GATES())),
    Case("gates prop wrong case", lambda: GATES().set(prop="Vowel"), raises=ValueError, match=r"did you mean 'vowel'",
         state=lambda: shown(GATES())),
    Case("gates more units than hidden", lambda: GateExplorer(LSTM(), VOCAB(), TEXT[:20], SAMPLE, units=20),
         raises=ValueError, match=r"units must be an integer in \[1, 16\], got 20"),
    Case("gates zero units", lambda: GateExplorer(LSTM(), VOCAB(), TEXT[:20], SAMPLE, units=0), raises=ValueError,
         match=r"units must be an integer in \[1, 16\]"),
    Case("gates small model default units", lambda: GateExplorer(_model("gru", hidden=8), VOCAB(), TEXT[:20], SAMPLE),
         returns=lambda c: c.units == 8 and all(h.get_array().shape == (8, 20) for h in c.heatmaps)
         and all(len(bars) == 8 for bars in c.bars) and c.heat_axes[0].get_ylim() == (7.5, -0.5)),
    Case("gates empty analysis text", lambda: GateExplorer(LSTM(), VOCAB(), TEXT[:20], ""), raises=ValueError,
         match=r"analysis_text is empty"),
    Case("gates analysis text unseen", lambda: GateExplorer(LSTM(), VOCAB(), TEXT[:20], "Zoë"), raises=ValueError,
         match=r"analysis_text has characters the model never saw"),
    Case("gates analysis text None", lambda: GateExplorer(LSTM(), VOCAB(), TEXT[:20], None), raises=TypeError,
         match=r"analysis_text must be a string"),
    Case("gates vocab of another text", lambda: GateExplorer(LSTM(), CharVocab.from_text("abc"), "abc", "abc"),
         raises=ValueError, match=r"vocab has 3 characters, the model was built for \d+"),
    Case("gates rnn cell", lambda: GateExplorer(_model("rnn"), VOCAB(), TEXT[:20], SAMPLE), raises=ValueError,
         match=r"'lstm' or 'gru', got 'rnn'"),
    Case("gates not a CharLM", lambda: GateExplorer(torch.nn.Linear(2, 2), VOCAB(), TEXT[:20], SAMPLE), raises=TypeError,
         match=r"model must be a course_lib\.rnn\.CharLM, got Linear"),
    Case("gates dollar text drawn", lambda: (lambda c: (c.set(text="$5, $$6", step=3), c.png())[1])(
        GateExplorer(LSTM(), VOCAB(), TEXT[:20], SAMPLE)),
         returns=lambda png: png[:8] == b"\x89PNG\r\n\x1a\n"),  # mathtext would fail to draw "$$"
    Case("gates bad text then valid step", _gates_after_bad_text,
         returns=lambda r: r[0] == {"text": TEXT[:40], "step": 5, "prop": "none"} and r[1] == 4.5
         and np.allclose(r[2], r[3])),
    Case("gates view bad prop then valid", _gru_view_after_bad_prop,
         returns=lambda r: r[0] is False and "did you mean 'vowel'" in r[1] and r[2] is True and r[3]),
    Case("gates view text refused", lambda: GRU_VIEW().update(text="€"), returns=lambda r: r is False,
         state=lambda: view_shown(GRU_VIEW())),
    Case("gates factory passages list", lambda: gate_explorer(LSTM(), VOCAB(), [TEXT[:20]], SAMPLE), raises=TypeError,
         match=r"passages must be a dict \{name: text\}, got list"),
    Case("gates factory no passages", lambda: gate_explorer(LSTM(), VOCAB(), {}, SAMPLE), raises=ValueError,
         match=r"passages must hold at least one text"),
    Case("gates factory unseen passage", lambda: gate_explorer(LSTM(), VOCAB(), {"a": TEXT[:9], "b": "Zoë"}, SAMPLE),
         raises=ValueError, match=r"passages\['b'\] has characters the model never saw"),
    Case("record empty text", lambda: record_gates(LSTM(), VOCAB(), ""), raises=ValueError, match=r"text is empty",
         state=lambda: model_state(LSTM())),
    Case("record failure keeps train mode", lambda: record_gates(LSTM(), VOCAB(), TEXT[:9], _broken_stack),
         raises=RuntimeError, match=r"broken recurrent stack", state=lambda: model_state(LSTM())),
    Case("record torch recurrent", lambda: record_gates(LSTM(), VOCAB(), TEXT[:9], torch.nn.LSTM(8, 16)),
         raises=TypeError, match=r"recurrent must be the model's recurrent stack", state=lambda: model_state(LSTM())),
    Case("record text too long", lambda: record_gates(LSTM(), VOCAB(), "a" * 700_000), raises=ValueError,
         match=r"text has 700000 characters; .* limited to \d+ characters"),
    Case("rank zero units", lambda: rank_units({"h": np.zeros((5, 4))}, None, 0), raises=ValueError,
         match=r"k \(units per gate\) must be an integer >= 1"),
    Case("rank prop of other length", lambda: rank_units({"h": np.zeros((5, 4))}, np.zeros(6), 2), raises=ValueError,
         match=r"prop must have one entry per step: shape \(5,\), got \(6,\)"),
    Case("rank more units than there are", lambda: rank_units({"h": np.eye(5)[:, :3]}, None, 10),
         returns=lambda r: sorted(r["h"][0].tolist()) == [0, 1, 2]),
    Case("properties of a non-string", lambda: text_properties(None), raises=TypeError, match=r"text must be a string"),
]

# ------------------------------------------------------------------------------ the base: failures inside drawing


class Dots(FigureController):
    """A dot at ``x``; ``_apply`` fails half-way for x == 7 (after moving the dot), drawing fails for x == 8."""

    def __init__(self):
        super().__init__(figsize=(2, 1))
        self.ax = self.fig.subplots()
        (self.point,) = self.ax.plot([0], [0], "o")
        self.ax.set_xlim(-1, 11)
        self.label = self.ax.set_title("")
        self.animate(self.point, self.label)
        self.state = {"x": 0}
        self._apply()

    def _validate(self, state):
        if not 0 <= state["x"] <= 10:
            raise ValueError(f"x must be in [0, 10], got {state['x']}")

    def _apply(self):
        self.point.set_data([self.state["x"]], [0])
        self.shown = self.state["x"]
        if self.state["x"] == 7:
            raise RuntimeError("broken in the middle of _apply")
        self.label.set_text("$$" if self.state["x"] == 8 else f"x = {self.state['x']}")  # "$$" cannot be drawn


def _dots_set(x, then):
    d = Dots()
    d.set(x=3)
    before = shown(d)
    try:
        d.set(x=x)
    except RuntimeError:
        pass
    kept = shown(d) == before and d.shown == 3
    d.set(x=then)
    return kept, d.point.get_xdata()[0], d.shown


def _view_draw_failure():
    v = WidgetView(Dots(), {})
    v.update(x=2)
    before = v.image.value
    ok = v.update(x=8)  # set succeeds, drawing fails: the view rolls the controller back
    after = (v.controller.state, v.image.value == before, html.unescape(v.message.value), v.controller.png() == before)
    return ok, after, v.update(x=5), v.controller.point.get_xdata()[0]


BASE_CASES = [
    Case("base apply fails then valid", lambda: _dots_set(7, 4), returns=lambda r: r == (True, 4, 4)),
    Case("base view shows a crash as a message", lambda: (lambda v: (v.update(x=7), v.message.value))(WidgetView(Dots(), {})),
         returns=lambda r: r[0] is False and "RuntimeError: broken in the middle of _apply" in r[1]),
    Case("base view draw failure then valid", _view_draw_failure,
         returns=lambda r: r[0] is False and r[1][0] == {"x": 2} and r[1][1] and "$$" in r[1][2] and r[1][3]
         and r[2] is True and r[3] == 5),
    Case("base unknown setting", lambda: Dots().set(y=1), raises=TypeError, match=r"unknown setting\(s\) \['y'\]"),
    Case("check numpy float accepted", lambda: check_number("x0", np.float32(0.5), 0, 1), returns=lambda r: r is None),
    Case("check numpy int accepted", lambda: check_integer("step", np.int64(3), 0, 5), returns=lambda r: r is None),
    Case("check numpy bool refused", lambda: check_number("x0", np.bool_(True), 0, 1), raises=TypeError,
         match=r"x0 must be a number in \[0, 1\], got bool np\.True_$"),
    Case("check choice near miss", lambda: check_choice("show", "Mistakes ", ("all", "mistakes")), raises=ValueError,
         match=r"show must be one of the options \['all', 'mistakes'\], got 'Mistakes '; did you mean 'mistakes'\?"),
]

CASES = ACTIVATION_CASES + PREDICTION_CASES + GATE_CASES + BASE_CASES


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_input(case):
    run_case(case)


def test_the_suite_is_big_enough():
    assert len(CASES) >= 40
    assert sum(c.state is not None for c in CASES) >= 20  # refused values must leave the widget as it was

