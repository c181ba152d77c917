"""The fill-mask explorer (notebook 08): its numbers are the model's, its controls follow the input, it releases what it
holds. Bad inputs are in test_bad_inputs_bert.py."""
import base64

import numpy as np
import pytest
import torch

from course_lib import bert
from course_lib.widgets import fillmask

TOKENIZER = bert.wordpiece_tokenizer()
V = TOKENIZER.get_vocab_size()


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = bert.BertForPreTraining(V, d_model=32, n_layers=2, n_heads=2, max_len=32, norm_first=True)
    with torch.no_grad():  # sharper than a fresh model's near-uniform guesses, so the top k are well separated
        m.mlm_bias.copy_(torch.randn(V) * 3)
    return m.eval()


def test_fill_mask_gives_the_models_probabilities_at_every_blank(model):
    result = fillmask.fill_mask(model, TOKENIZER, "[MASK] king is [MASK]", k=5)
    ids = torch.tensor([TOKENIZER.encode("[MASK] king is [MASK]").ids])
    with torch.no_grad():
        logits, _, attentions = model(ids)
    assert result.masks == [1, 4] and result.hidden == [None, None]
    for row, position in enumerate(result.masks):
        probs = torch.softmax(logits[0, position].double(), -1)
        top = probs.topk(5)
        assert np.allclose(result.top_probs[row], top.values.numpy(), atol=1e-6)
        assert result.top_tokens[row] == [TOKENIZER.id_to_token(int(i)) for i in top.indices]
        assert (np.diff(result.top_probs[row]) <= 0).all()  # most probable first
    assert result.attentions.shape == (2, 2, 6, 6)
    assert np.allclose(result.attentions, torch.stack(attentions)[:, 0].numpy(), atol=1e-6)


def test_hiding_a_word_masks_each_of_its_pieces_and_says_what_was_there(model):
    text = "speak to it, horatio"
    assert fillmask.words(TOKENIZER, text) == ["speak", "to", "it", ",", "horatio"]
    result = fillmask.fill_mask(model, TOKENIZER, text, hide=4)
    assert result.hidden == TOKENIZER.encode("horatio", add_special_tokens=False).tokens
    assert result.text == "speak to it, " + " ".join(["[MASK]"] * len(result.hidden))
    hidden_first = fillmask.fill_mask(model, TOKENIZER, "scholar, speak", hide=0)
    assert hidden_first.text.startswith("[MASK] [MASK] [MASK] ,") and hidden_first.hidden == ["sch", "##ol", "##ar"]


def test_a_typed_mask_and_a_hidden_word_are_both_blanks(model):
    result = fillmask.fill_mask(model, TOKENIZER, "the [MASK] is dead", hide=0)  # hide "the" too
    assert result.masks == [1, 2] and result.hidden == ["the", None]


def test_the_explorer_follows_the_input_and_shows_notices(model):
    explorer = fillmask.fill_mask_explorer(model, TOKENIZER, "the [MASK] is dead")
    try:
        chart = explorer.fill.controller
        assert [label for label, _ in explorer.hide.options][1:] == ["0: the", "1: is", "2: dead"]
        first = explorer.png()
        assert explorer.update(text="long live the king")  # accepted, with a notice: nothing to fill in
        assert chart.result is None and "nothing to fill in" in explorer.fill.message.value
        assert [label for label, _ in explorer.hide.options][1:] == ["0: long", "1: live", "2: the", "3: king"]
        assert explorer.attention.controller.state["text"] == "long live the king"
        assert explorer.update(hide=3)  # now hide "king"
        assert chart.result.hidden == ["king"] and explorer.fill.message.value == ""
        assert explorer.attention.controller.state["text"] == "long live the [MASK]"
        assert explorer.hide.value == 3 and explorer.text.value == "long live the king"
        assert explorer.attention.controller.query_labels[-2] == "[MASK]"
        assert explorer.png() != first
        # the sentence box drives it as update() does; a refused text leaves everything on the last good input
        explorer.text.value = ""
        assert "the text is empty" in explorer.fill.message.value and chart.state["text"] == "long live the king"
        explorer.text.value = "to be or not to [MASK]"
        assert chart.result.tokens[-2] == "[MASK]" and explorer.hide.value == -1
        bundle = explorer._repr_mimebundle_()
        assert base64.b64decode(bundle["image/png"]) == explorer.png()
    finally:
        explorer.close()
    assert explorer.closed and explorer.attention.closed
    with pytest.raises(RuntimeError, match="closed"):
        explorer.update(text="[MASK]")


def test_the_linked_attention_explorers_step_slider_spans_the_new_input(model):
    explorer = fillmask.fill_mask_explorer(model, TOKENIZER, "the [MASK] is dead")
    try:
        step = explorer.attention.controls["step"]
        assert step.max == 5  # [CLS] the [MASK] is dead [SEP]
        explorer.update(text="now is the winter of our [MASK]")
        assert step.max == len(TOKENIZER.encode("now is the winter of our [MASK]").ids) - 1
    finally:
        explorer.close()
