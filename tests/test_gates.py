"""The gate explorer without a browser: properties, unit ranking, stepping, typed text, bad input."""
import numpy as np
import pytest
import torch

from course_lib import rnn
from course_lib.data import CharVocab
from course_lib.widgets.gates import GateExplorer, gate_explorer, rank_units, record_gates, text_properties

TEXT = "Hamlet:\nTo be, or not to be: that is the question.\n\nOphelia:\nGood my lord,\nHow does your honour?\n"
SAMPLE = TEXT * 20


@pytest.fixture(scope="module")
def vocab():
    return CharVocab.from_text(SAMPLE)


def _model(vocab, cell, reference=False):
    torch.manual_seed(0)
    return rnn.CharLM(vocab_size=len(vocab), cell=cell, emb=8, hidden=16, reference=reference)


def test_text_properties():
    props = text_properties("Ann:\nHi, you.\n")
    assert props["inside speaker name"].tolist()[:5] == [1, 1, 1, 1, 0]
    assert props["inside speaker name"][5:].sum() == 0
    assert np.flatnonzero(props["line start"]).tolist() == [0, 5]
    assert props["vowel"][0] == 1 and props["vowel"][1] == 0
    assert np.flatnonzero(props["punctuation"]).tolist() == [3, 7, 12]


def test_rank_units_finds_a_planted_unit():
    g = np.random.default_rng(0)
    prop = (g.random(500) > 0.7).astype(float)
    values = g.normal(size=(500, 8))
    values[:, 5] = 2 * prop + 0.1 * g.normal(size=500)  # unit 5 tracks the property
    values[:, 2] = -prop + 0.2 * g.normal(size=500)  # unit 2 tracks it negatively
    units, scores = rank_units({"h": values}, prop, 3)["h"]
    assert units[:2].tolist() == [5, 2] and scores[0] > 0.9 and scores[1] < -0.8
    values[:, 7] *= 5  # unit 7 varies most
    units, _ = rank_units({"h": values}, None, 1)["h"]
    assert units.tolist() == [7]


@pytest.mark.parametrize("cell,names", [("lstm", "ifgoch"), ("gru", "rznh")])
def test_recorded_gates_come_from_the_model(vocab, cell, names):
    model = _model(vocab, cell, reference=True)  # trained with PyTorch's module: converted to ours to record gates
    gates = record_gates(model, vocab, TEXT)
    assert sorted(gates) == sorted(names) and all(g.shape == (len(TEXT), 16) for g in gates.values())
    with torch.no_grad():
        out, _ = model.rnn(model.embed(vocab.encode(TEXT)[None]))
    assert np.allclose(gates["h"], out[0].numpy(), atol=1e-5)  # the recorded h is the model's own output


def test_explorer_steps_and_marks_the_character(vocab):
    view = gate_explorer(_model(vocab, "lstm"), vocab, {"first": TEXT[:40], "second": TEXT[40:90]}, SAMPLE)
    c = view.controller
    first = view.image.value
    view.controls["step"].value = 7
    assert view.image.value != first
    assert c.markers[0].get_x() == pytest.approx(6.5)
    assert "newline" in c.title.get_text()  # TEXT[7] is the newline after the speaker name
    units = c.shown_units["h"]
    assert [b.get_width() for b in c.bars[-1]] == pytest.approx(c.gates["h"][7, units].tolist())
    view.controls["prop"].value = "inside speaker name"
    assert "inside speaker name" in c.ranking_note.get_text()


def test_explorer_typed_text_and_bad_input(vocab):
    view = gate_explorer(_model(vocab, "gru"), vocab, {"first": TEXT[:40], "second": TEXT[40:90]}, SAMPLE)
    c = view.controller
    assert c.names == ("r", "z", "n", "h")
    view.controls["text"].value = "Ophelia:\nGood."
    assert c.state["text"] == "Ophelia:\nGood." and view.controls["step"].max == len("Ophelia:\nGood.") - 1
    shown = view.image.value
    view.controls["text"].value = "Good €uro"  # unseen character: a message, the old text stays
    assert "never saw in training" in view.message.value and "€" in view.message.value
    assert c.state["text"] == "Ophelia:\nGood." and view.image.value == shown
    assert view.update(text="") is False and "empty" in view.message.value
    assert view.update(step=500) is False and "step must be" in view.message.value
    view.passage.value = "second"  # the passage dropdown fills the text box
    assert c.state["text"] == TEXT[40:90] and c.state["step"] == 0
    with pytest.raises(ValueError, match="at most"):
        GateExplorer(_model(vocab, "lstm"), vocab, TEXT * 3, SAMPLE)
    with pytest.raises(ValueError, match="'lstm' or 'gru'"):
        GateExplorer(_model(vocab, "rnn"), vocab, TEXT[:20], SAMPLE)
