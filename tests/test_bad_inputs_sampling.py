"""Bad and edge-case inputs to notebook 07's sampling explorer: the controller, the view, generate_with_probs,
gpt_attention and charlm's next_distribution / sample_with_probs.

Each row is one call a learner might make and its exact outcome (see tests/badinput.py). A refused value must leave
the explorer as it was: its state, its text and its picture (``state=``); the view shows the message instead of a
traceback.
"""
import math

import numpy as np
import pytest
import torch

from badinput import Case, ids, model_state, run_case
from course_lib import charlm, rnn
from course_lib.data import CharVocab
from course_lib.gpt import GPT, GPTConfig
from course_lib.widgets.sampling import (MAX_NEW, SamplingExplorer, generate_with_probs, gpt_attention,
                                         sampling_explorer)

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n"
VOCAB = CharVocab.from_text(TEXT)
V = len(VOCAB)
BLOCK = 16
torch.manual_seed(0)
MODEL = GPT(GPTConfig(vocab_size=V, block_size=BLOCK, n_layer=2, n_head=2, n_embd=16))
OTHER_VOCAB = CharVocab.from_text("abc")
UNKNOWN_VOCAB = CharVocab(VOCAB.chars, unknown=" ")  # maps characters it never saw to a space
LSTM = rnn.CharLM(vocab_size=V, cell="lstm", emb=8, hidden=16)

VIEW = sampling_explorer(MODEL, VOCAB, "First", n=30, temperature=0.8, seed=1)
SAMPLER = VIEW.controller


def _state():
    """What a refused value must leave unchanged: the settings, the sampled text and the picture."""
    return {"state": dict(SAMPLER.state), "text": SAMPLER.text, "png": SAMPLER.png(), "image": VIEW.image.value}


def _generated(prompt, n, temperature, seed, vocab=VOCAB):
    return MODEL.generate(vocab, prompt, n, temperature, generator=torch.Generator().manual_seed(seed))


def _then_valid(**bad):
    """A refused value, then a valid one: the valid one must be sampled and drawn."""
    try:
        SAMPLER.set(**bad)
    except (ValueError, TypeError):
        pass
    before = SAMPLER.png()
    SAMPLER.set(seed=2)
    ok = (SAMPLER.text == MODEL.generate(VOCAB, "First", 30, 0.8, generator=torch.Generator().manual_seed(2))
          and SAMPLER.png() != before)
    SAMPLER.set(seed=1)
    return ok


def _view_refuses(**bad):
    """The view's answer to a bad control value: (accepted?, message, picture unchanged?)."""
    picture = VIEW.image.value
    accepted = VIEW.update(**bad)
    return accepted, VIEW.message.value, VIEW.image.value == picture


LOGITS = torch.randn(V, generator=torch.Generator().manual_seed(0))

CASES = [
    # -- the explorer's settings, refused with the last good state kept ----------------------------------------------
    Case("prompt: empty", lambda: SAMPLER.set(prompt=""), raises=ValueError, match="prompt is empty", state=_state),
    Case("prompt: unseen characters", lambda: SAMPLER.set(prompt="Zoë"), raises=ValueError,
         match=r"never saw in training: 'Zë'", state=_state),
    Case("prompt: longer than the context", lambda: SAMPLER.set(prompt="F" * (BLOCK + 1)), raises=ValueError,
         match=r"prompt has 17 characters.*block_size = 16.*last 16", state=_state),
    Case("prompt: a number", lambda: SAMPLER.set(prompt=5), raises=TypeError, match="prompt must be a string",
         state=_state),
    Case("prompt: None", lambda: SAMPLER.set(prompt=None), raises=TypeError, match="prompt must be a string",
         state=_state),
    Case("temperature: negative", lambda: SAMPLER.set(temperature=-0.1), raises=ValueError,
         match=r"temperature must be in \[0.0, 2.0\], got -0.1", state=_state),
    Case("temperature: too hot", lambda: SAMPLER.set(temperature=2.5), raises=ValueError,
         match=r"temperature must be in \[0.0, 2.0\]", state=_state),
    Case("temperature: NaN", lambda: SAMPLER.set(temperature=math.nan), raises=ValueError,
         match="temperature must be in", state=_state),
    Case("temperature: a string", lambda: SAMPLER.set(temperature="hot"), raises=TypeError,
         match="temperature must be a number", state=_state),
    Case("temperature: a tensor", lambda: SAMPLER.set(temperature=torch.tensor(0.5)), raises=TypeError,
         match=r"temperature must be a number.*\.item\(\)", state=_state),
    Case("top_k: negative", lambda: SAMPLER.set(top_k=-1), raises=ValueError,
         match=rf"top_k \(0 = off\) must be an integer in \[0, {V}\], got -1", state=_state),
    Case("top_k: a float", lambda: SAMPLER.set(top_k=2.5), raises=TypeError,
         match=r"top_k \(0 = off\) must be an integer", state=_state),
    Case("top_k: a whole float", lambda: SAMPLER.set(top_k=3.0), raises=TypeError, match="top_k .* must be an integer",
         state=_state),
    Case("top_k: a string", lambda: SAMPLER.set(top_k="3"), raises=TypeError, match="top_k .* must be an integer",
         state=_state),
    Case("top_k: True", lambda: SAMPLER.set(top_k=True), raises=TypeError, match="top_k .* must be an integer",
         state=_state),
    Case("top_k: more than the vocabulary", lambda: SAMPLER.set(top_k=V + 1), raises=ValueError,
         match=rf"top_k .* \[0, {V}\]", state=_state),
    Case("top_p: zero", lambda: SAMPLER.set(top_p=0.0), raises=ValueError,
         match=r"top_p \(1 = off\) must be in \(0, 1\]", state=_state),
    Case("top_p: above 1", lambda: SAMPLER.set(top_p=1.5), raises=ValueError, match=r"top_p \(1 = off\) must be in",
         state=_state),
    Case("top_p: negative", lambda: SAMPLER.set(top_p=-0.2), raises=ValueError, match="top_p .* must be in",
         state=_state),
    Case("top_p: NaN", lambda: SAMPLER.set(top_p=math.nan), raises=ValueError, match="top_p .* must be in",
         state=_state),
    Case("top_p: a string", lambda: SAMPLER.set(top_p="0.9"), raises=TypeError, match="top_p .* must be a number",
         state=_state),
    Case("n: zero", lambda: SAMPLER.set(n=0), raises=ValueError,
         match=rf"n must be an integer in \[1, {MAX_NEW}\], got 0", state=_state),
    Case("n: too many", lambda: SAMPLER.set(n=MAX_NEW + 1), raises=ValueError, match=rf"\[1, {MAX_NEW}\]",
         state=_state),
    Case("n: a float", lambda: SAMPLER.set(n=20.0), raises=TypeError, match="n must be an integer", state=_state),
    Case("seed: negative", lambda: SAMPLER.set(seed=-1), raises=ValueError, match="seed must be an integer in",
         state=_state),
    Case("seed: too large", lambda: SAMPLER.set(seed=2**32), raises=ValueError, match="seed must be an integer in",
         state=_state),
    Case("seed: a float", lambda: SAMPLER.set(seed=1.5), raises=TypeError, match="seed must be an integer",
         state=_state),
    Case("position: past the text", lambda: SAMPLER.set(position=30), raises=ValueError,
         match=r"position must be an integer in \[0, 29\], got 30", state=_state),
    Case("position: negative", lambda: SAMPLER.set(position=-1), raises=ValueError, match="position must be",
         state=_state),
    Case("position: past a shorter text", lambda: SAMPLER.set(n=10, position=12), raises=ValueError,
         match=r"position must be an integer in \[0, 9\]", state=_state),
    Case("colour_by: near miss", lambda: SAMPLER.set(colour_by="Model"), raises=ValueError,
         match="did you mean 'model'", state=_state),
    Case("unknown setting", lambda: SAMPLER.set(temp=0.5), raises=TypeError, match="unknown setting", state=_state),
    Case("a bad value with good ones", lambda: SAMPLER.set(seed=5, top_p=2.0), raises=ValueError, match="top_p",
         state=_state),
    # -- accepted edge values ------------------------------------------------------------------------------------------
    Case("numpy integers accepted", lambda: (SAMPLER.set(seed=np.int64(1), top_k=np.int32(0)), SAMPLER.text)[1],
         returns=lambda text: text == _generated("First", 30, 0.8, seed=1)),
    Case("top_k None and top_p None mean off",
         lambda: (SAMPLER.set(top_k=None, top_p=None), SAMPLER.text, SAMPLER.set(top_k=0, top_p=1.0))[1],
         returns=lambda text: text == _generated("First", 30, 0.8, seed=1)),
    Case("a prompt of the full context", lambda: SamplingExplorer(MODEL, VOCAB, "F" * BLOCK, n=3).text,
         returns=lambda text: len(text) == BLOCK + 3),
    Case("one character", lambda: SamplingExplorer(MODEL, VOCAB, "F", n=1, temperature=0.0).sample.p_sampling,
         returns=lambda p: p.shape == (1,) and p[0] == 1.0),
    Case("a vocabulary with unknown= accepts unseen characters",
         lambda: SamplingExplorer(MODEL, UNKNOWN_VOCAB, "Zoë", n=5, seed=3).text,
         returns=lambda text: text == _generated("Zoë", 5, 1.0, seed=3, vocab=UNKNOWN_VOCAB)),
    Case("valid after a refused prompt", lambda: _then_valid(prompt="Zoë"), returns=bool),
    Case("valid after a refused temperature", lambda: _then_valid(temperature=-1.0), returns=bool),
    Case("valid after a refused position", lambda: _then_valid(position=99), returns=bool),
    Case("sampling leaves the model as it was", lambda: SamplingExplorer(MODEL, VOCAB, "Fi", n=20).text,
         returns=lambda text: len(text) == 22, state=lambda: model_state(MODEL)),
    # -- the view: a message, never a traceback ----------------------------------------------------------------------
    Case("view: empty prompt", lambda: _view_refuses(prompt=""),
         returns=lambda r: r[0] is False and "prompt is empty" in r[1] and r[2], state=_state),
    Case("view: unseen characters", lambda: _view_refuses(prompt="Zoë"),
         returns=lambda r: r[0] is False and "never saw in training" in r[1] and r[2], state=_state),
    Case("view: prompt too long", lambda: _view_refuses(prompt="F" * 40),
         returns=lambda r: r[0] is False and "block_size = 16" in r[1] and r[2], state=_state),
    Case("view: negative seed in the box", lambda: (setattr(VIEW.controls["seed"], "value", -4),
                                                    VIEW.message.value, setattr(VIEW.controls["seed"], "value", 1))[1],
         returns=lambda message: "seed must be an integer" in message, state=_state),
    Case("view: infinite top_p", lambda: _view_refuses(top_p=float("inf")),
         returns=lambda r: r[0] is False and "top_p" in r[1] and r[2], state=_state),
    # -- building the explorer --------------------------------------------------------------------------------------
    Case("model: an LSTM", lambda: SamplingExplorer(LSTM, VOCAB, "F"), raises=TypeError,
         match="model must be a course_lib.gpt.GPT, got CharLM"),
    Case("model: a state dict", lambda: sampling_explorer(MODEL.state_dict(), VOCAB), raises=TypeError,
         match="model must be a course_lib.gpt.GPT"),
    Case("vocab: another size", lambda: SamplingExplorer(MODEL, OTHER_VOCAB, "a"), raises=ValueError,
         match=rf"vocab has 3 characters, the model was built for {V}"),
    Case("vocab: a string", lambda: SamplingExplorer(MODEL, TEXT, "F"), raises=TypeError, match="vocab must be"),
    Case("explorer: empty prompt", lambda: sampling_explorer(MODEL, VOCAB, ""), raises=ValueError,
         match="prompt is empty"),
    Case("explorer: bad temperature", lambda: sampling_explorer(MODEL, VOCAB, "F", temperature=-1), raises=ValueError,
         match="temperature must be in"),
    Case("explorer: bad top_k", lambda: sampling_explorer(MODEL, VOCAB, "F", top_k=-2), raises=ValueError,
         match="top_k"),
    Case("explorer: bad n", lambda: sampling_explorer(MODEL, VOCAB, "F", n=MAX_NEW + 1), raises=ValueError,
         match="n must be an integer in"),
    # -- generate_with_probs and gpt_attention -----------------------------------------------------------------------
    Case("generate: prompt too long", lambda: generate_with_probs(MODEL, VOCAB, "F" * 17, 3), raises=ValueError,
         match=r"prompt\[-16:\]"),
    Case("generate: unseen characters", lambda: generate_with_probs(MODEL, VOCAB, "Zoë", 3), raises=ValueError,
         match="not in the vocabulary"),
    Case("generate: negative n", lambda: generate_with_probs(MODEL, VOCAB, "F", -1), raises=ValueError,
         match=r"n \(characters to generate\)"),
    Case("generate: n = 0", lambda: generate_with_probs(MODEL, VOCAB, "Fi", 0),
         returns=lambda s: s.text == "Fi" and s.sampling.shape == (0, V) and s.p_model.shape == (0,)),
    Case("generate: top_k 0", lambda: generate_with_probs(MODEL, VOCAB, "F", 3, top_k=0), raises=ValueError,
         match="top_k must be an integer >= 1"),
    Case("generate: top_p 0", lambda: generate_with_probs(MODEL, VOCAB, "F", 3, top_p=0.0), raises=ValueError,
         match=r"top_p must be a number in \(0, 1\]"),
    Case("generate: seed as a generator", lambda: generate_with_probs(MODEL, VOCAB, "F", 3, seed=torch.Generator()),
         raises=TypeError, match="seed must be an integer"),
    Case("attention: empty text", lambda: gpt_attention(MODEL, VOCAB, ""), raises=ValueError, match="text is empty"),
    Case("attention: unseen characters", lambda: gpt_attention(MODEL, VOCAB, "Zoë"), raises=ValueError,
         match="not in the vocabulary"),
    Case("attention: ids instead of text", lambda: gpt_attention(MODEL, VOCAB, VOCAB.encode("Fi")), raises=TypeError,
         match="text must be a string"),
    Case("attention: too many characters", lambda: gpt_attention(MODEL, VOCAB, "Fi", last=65), raises=ValueError,
         match=r"last must be an integer in \[1, 64\]"),
    Case("attention: one character", lambda: gpt_attention(MODEL, VOCAB, "F")[2],
         returns=lambda w: w.shape == (2, 2, 1, 1) and np.allclose(w, 1.0)),
    # -- charlm's distribution helpers ---------------------------------------------------------------------------------
    Case("next_distribution: 2-D logits", lambda: charlm.next_distribution(LOGITS[None]), raises=ValueError,
         match=r"logits\[0, -1\]"),
    Case("next_distribution: integer logits", lambda: charlm.next_distribution(LOGITS.long()), raises=TypeError,
         match="floating-point"),
    Case("next_distribution: NaN logits", lambda: charlm.next_distribution(LOGITS * math.nan), raises=ValueError,
         match="NaN or infinite"),
    Case("next_distribution: negative temperature", lambda: charlm.next_distribution(LOGITS, -1.0), raises=ValueError,
         match="temperature must be"),
    Case("next_distribution: greedy is one-hot", lambda: charlm.next_distribution(LOGITS, 0.0),
         returns=lambda p: float(p.sum()) == 1.0 and int(p.argmax()) == int(LOGITS.argmax())
         and int((p > 0).sum()) == 1),
    Case("next_distribution: a tiny temperature stays finite", lambda: charlm.next_distribution(LOGITS, 1e-300),
         returns=lambda p: bool(torch.isfinite(p).all()) and float(p.max()) == pytest.approx(1.0)),
    Case("sample_with_probs: a number as generator", lambda: charlm.sample_with_probs(LOGITS, generator=0),
         raises=TypeError, match="generator must be a torch.Generator"),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_input(case):
    run_case(case)


def teardown_module():
    VIEW.close()
