"""Bad and edge-case inputs to notebook 07's library: the GPT, its configuration, generation, the sampler and the
held-out evaluators of ``course_lib.charlm``.

Each row is one call a learner might make and its exact outcome (see tests/badinput.py). Rows that hand over a model
check that its mode (of every submodule) and its weights are left as they were, errors included.
"""
import numpy as np
import pytest
import torch
from torch import nn

from badinput import Case, ids, model_state, run_case
from course_lib import charlm, gpt, rnn
from course_lib.attention import KVCache
from course_lib.data import CharVocab

TEXT = "to be, or not to be: that is the question.\n"
VOCAB = CharVocab.from_text(TEXT)
V = len(VOCAB)
IDS = VOCAB.encode(TEXT)  # 43 ids


def _gpt(seed=0, **kwargs):
    torch.manual_seed(seed)
    config = dict(vocab_size=V, block_size=12, n_layer=2, n_head=2, n_embd=8)
    config.update(kwargs)
    return gpt.GPT(**config)


MODEL = _gpt()  # in training mode; rows below must leave it so
STATE = lambda: model_state(MODEL)  # noqa: E731
DOUBLE = _gpt(seed=1).double()
IDX = VOCAB.encode("to be").unsqueeze(0)  # (1, 5)


class _Fails(nn.Linear):
    """An output layer that raises: an error in the middle of a model's forward pass."""

    def forward(self, x):
        raise RuntimeError("a failing layer")


FAILING = _gpt()
FAILING.ln_f = _Fails(8, 8)
FAILING.blocks[1].eval()  # a mixed state, which an error must not flatten
FAILING_STATE = lambda: model_state(FAILING)  # noqa: E731


def _nan_model():
    model = _gpt()
    with torch.no_grad():
        model.ln_f.bias.fill_(float("nan"))
    return model


NAN_GPT = _nan_model()


def _filled(model, T, B=1):
    """Caches holding T positions of a batch of B."""
    caches = model.new_caches()
    model(torch.zeros(B, T, dtype=torch.long), caches)
    return caches


def _cache_state(caches):
    return [(c.k, c.v) for c in caches]  # extend() builds new tensors: the old ones are never written to


CACHES_B2 = _filled(MODEL, 2, B=2)
CACHES_OTHER = _filled(_gpt(n_head=4), 2)  # another model's: 4 heads of 2
CACHES_MIXED = _filled(MODEL, 3)[:1] + _filled(MODEL, 2)[1:]
CACHES_FULL = _filled(MODEL, 12)


def _one_step_equals_full():
    caches = DOUBLE.new_caches()
    DOUBLE(IDX[:, :4], caches)  # "to b"
    step = DOUBLE(IDX[:, 4:5], caches)
    return (step - DOUBLE(IDX)[:, 4:5]).abs().max().item()


def _post_ln_layer():
    return nn.TransformerEncoderLayer(8, 2, 32, dropout=0.0, activation="gelu", batch_first=True)


CASES = [
    # GPTConfig and GPT
    Case("config: n_embd not divisible by n_head", lambda: gpt.GPTConfig(vocab_size=V, n_embd=10, n_head=4),
         raises=ValueError, match=r"n_embd \(10\) must be divisible by n_head \(4\).*e\.g\. n_embd=8"),
    Case("config: n_embd smaller than n_head", lambda: gpt.GPTConfig(vocab_size=V, n_embd=3, n_head=4),
         raises=ValueError, match=r"n_embd \(3\) must be divisible by n_head \(4\).*n_embd=4"),
    Case("config: vocab_size 0", lambda: gpt.GPTConfig(vocab_size=0), raises=ValueError,
         match=r"vocab_size must be an integer >= 1, got 0"),
    Case("config: block_size as a float", lambda: gpt.GPTConfig(vocab_size=V, block_size=64.0), raises=ValueError,
         match=r"block_size must be an integer >= 1, got 64\.0"),
    Case("config: n_layer True", lambda: gpt.GPTConfig(vocab_size=V, n_layer=True), raises=ValueError,
         match=r"n_layer must be an integer >= 1, got True"),
    Case("config: n_head -2", lambda: gpt.GPTConfig(vocab_size=V, n_head=-2), raises=ValueError,
         match=r"n_head must be an integer >= 1, got -2"),
    Case("config: bias 'yes'", lambda: gpt.GPTConfig(vocab_size=V, bias="yes"), raises=ValueError,
         match=r"bias must be True or False, got 'yes'"),
    Case("config: NumPy sizes are fine", lambda: gpt.GPTConfig(vocab_size=np.int64(V), n_embd=np.int64(16)),
         returns=lambda c: type(c.vocab_size) is int and type(c.n_embd) is int),
    Case("config: 48 layers of width 8192 (39 GB)", lambda: gpt.GPTConfig(vocab_size=V, n_layer=48, n_embd=8192),
         raises=ValueError, match=r"this GPT \(vocab_size=17, .*n_layer=48, n_embd=8192\) would have .* parameters"
                                  r".*limit of 250,000,000", timeout=5),
    Case("GPT(65): a number where the config goes", lambda: gpt.GPT(65), raises=TypeError,
         match=r"config must be a GPTConfig, got int: .*GPT\(vocab_size=65\)"),
    Case("GPT: a config and keywords", lambda: gpt.GPT(gpt.GPTConfig(vocab_size=V), n_layer=2), raises=TypeError,
         match=r"either a GPTConfig or keyword arguments, not both \(got \['n_layer'\]\)"),
    # forward: idx
    Case("forward: float idx", lambda: MODEL(IDX.float()), raises=TypeError,
         match=r"idx must be an integer tensor of token ids \(B, T\), got torch\.float32", state=STATE),
    Case("forward: the text itself", lambda: MODEL("to be"), raises=TypeError,
         match=r"idx must be an integer tensor of token ids.*vocab\.encode\(text\)", state=STATE),
    Case("forward: one text without a batch axis", lambda: MODEL(IDX[0]), raises=ValueError,
         match=r"idx must have shape \(B, T\).*got \(5,\).*idx\.unsqueeze\(0\)", state=STATE),
    Case("forward: no characters", lambda: MODEL(IDX[:, :0]), raises=ValueError,
         match=r"idx must have shape \(B, T\) with B, T >= 1, got \(1, 0\)", state=STATE),
    Case("forward: an id out of the vocabulary", lambda: MODEL(IDX + V - 1), raises=ValueError,
         match=r"idx must hold ids in 0\.\.16 \(vocab_size=17\), got values in \d+\.\.\d+", state=STATE),
    Case("forward: a negative id", lambda: MODEL(torch.tensor([[3, -1, 2]])), raises=ValueError,
         match=r"idx must hold ids in 0\.\.16 \(vocab_size=17\), got values in -1\.\.3", state=STATE),
    Case("forward: longer than block_size", lambda: MODEL(torch.zeros(1, 13, dtype=torch.long)), raises=ValueError,
         match=r"at most block_size=12 characters, got T = 13.*idx\[:, -12:\]", state=STATE),
    Case("forward: ids on another device (meta)", lambda: MODEL(torch.zeros(1, 3, dtype=torch.long, device="meta")),
         raises=ValueError, match=r"idx is on meta but the model is on cpu.*idx\.to\('cpu'\)", state=STATE),
    Case("forward: int32 ids work", lambda: (MODEL(IDX.int()), MODEL(IDX)),
         returns=lambda pair: torch.equal(pair[0], pair[1]), state=STATE),
    Case("forward: return_weights 'yes'", lambda: MODEL(IDX, return_weights="yes"), raises=TypeError,
         match=r"return_weights must be True or False", state=STATE),
    # forward: caches
    Case("caches: one cache for two layers", lambda: MODEL(IDX, [KVCache()]), raises=ValueError,
         match=r"caches must be a list of n_layer=2 KVCache objects.*got list of 1.*model\.new_caches\(\)",
         state=STATE),
    Case("caches: a single KVCache", lambda: MODEL(IDX, KVCache()), raises=ValueError,
         match=r"caches must be a list of n_layer=2 KVCache objects.*got KVCache", state=STATE),
    Case("caches: tensors instead of caches", lambda: MODEL(IDX, [torch.zeros(1), torch.zeros(1)]),
         raises=TypeError, match=r"caches must hold KVCache objects \(model\.new_caches\(\)\), got a Tensor",
         state=STATE),
    Case("caches: of another batch size", lambda: MODEL(IDX, CACHES_B2), raises=ValueError,
         match=r"caches\[0\] holds keys of shape \(2, 2, 2, 4\), this model and batch need .* = \(1, 2, 2, 4\)",
         state=lambda: (model_state(MODEL), _cache_state(CACHES_B2))),
    Case("caches: of another model", lambda: MODEL(IDX, CACHES_OTHER), raises=ValueError,
         match=r"caches\[0\] holds keys of shape \(1, 4, 2, 2\).*\(1, 2, 2, 4\).*model\.new_caches\(\)",
         state=lambda: (model_state(MODEL), _cache_state(CACHES_OTHER))),
    Case("caches: of different lengths", lambda: MODEL(IDX, CACHES_MIXED), raises=ValueError,
         match=r"caches hold different numbers of positions \[2, 3\].*model\.new_caches\(\)",
         state=lambda: (model_state(MODEL), _cache_state(CACHES_MIXED))),
    Case("caches: no room for the new characters", lambda: MODEL(IDX, CACHES_FULL), raises=ValueError,
         match=r"block_size=12 characters, got 12 cached \+ 5 new = 17",
         state=lambda: (model_state(MODEL), _cache_state(CACHES_FULL))),
    Case("caches: float64 model, one step = the full forward", _one_step_equals_full, returns=lambda d: d <= 1e-12),
    # generate
    Case("generate: unseen characters", lambda: MODEL.generate(VOCAB, "to X#", 5), raises=ValueError,
         match=r"prompt has characters not in the vocabulary: \['X', '#'\]; use only characters of the training",
         state=STATE),
    Case("generate: empty prompt", lambda: MODEL.generate(VOCAB, "", 5), raises=ValueError,
         match=r"prompt must be a non-empty string \(the model needs a first character\)", state=STATE),
    Case("generate: prompt longer than block_size", lambda: MODEL.generate(VOCAB, TEXT[:13], 5), raises=ValueError,
         match=r"prompt has 13 characters, more than the model reads \(block_size=12\): pass its last 12, "
               r"prompt\[-12:\]", state=STATE),
    Case("generate: a prompt of exactly block_size", lambda: MODEL.generate(VOCAB, TEXT[:12], 20, temperature=0),
         returns=lambda s: len(s) == 32 and s.startswith(TEXT[:12]), state=STATE),
    Case("generate: n = 10**9", lambda: MODEL.generate(VOCAB, "to", 10**9), raises=ValueError,
         match=r"n=1,000,000,000 characters .*at most 100,000", state=STATE, timeout=5),
    Case("generate: n = -1", lambda: MODEL.generate(VOCAB, "to", -1), raises=ValueError,
         match=r"n \(characters to generate\) must be an integer >= 0, got -1", state=STATE),
    Case("generate: n as a NumPy integer", lambda: MODEL.generate(VOCAB, "to", np.int64(4)),
         returns=lambda s: isinstance(s, str) and len(s) == 6 and not VOCAB.unseen(s), state=STATE),
    Case("generate: n = 0 gives the prompt", lambda: MODEL.generate(VOCAB, "be", 0), returns=lambda s: s == "be",
         state=STATE),
    Case("generate: temperature -1", lambda: MODEL.generate(VOCAB, "to", 5, temperature=-1), raises=ValueError,
         match=r"temperature must be a finite number >= 0 .*0: greedy decoding.*got -1", state=STATE),
    Case("generate: temperature nan", lambda: MODEL.generate(VOCAB, "to", 5, temperature=float("nan")),
         raises=ValueError, match=r"temperature must be a finite number >= 0.*got nan", state=STATE),
    Case("generate: temperature '1'", lambda: MODEL.generate(VOCAB, "to", 5, temperature="1"), raises=ValueError,
         match=r"temperature must be a finite number >= 0.*got '1'", state=STATE),
    Case("generate: temperature 1e-310 is greedy, not NaN",
         lambda: (MODEL.generate(VOCAB, "the", 6, temperature=1e-310, generator=torch.Generator().manual_seed(0)),
                  MODEL.generate(VOCAB, "the", 6, temperature=0)),
         returns=lambda pair: pair[0] == pair[1], state=STATE),
    Case("generate: top_k 0", lambda: MODEL.generate(VOCAB, "to", 5, top_k=0), raises=ValueError,
         match=r"top_k must be an integer >= 1 \(keep the k most likely characters\) or None \(keep all\), got 0",
         state=STATE),
    Case("generate: top_k 2.5", lambda: MODEL.generate(VOCAB, "to", 5, top_k=2.5), raises=ValueError,
         match=r"top_k must be an integer >= 1.*got 2\.5", state=STATE),
    Case("generate: top_k larger than the vocabulary keeps all",
         lambda: (MODEL.generate(VOCAB, "to", 9, top_k=1000, generator=torch.Generator().manual_seed(0)),
                  MODEL.generate(VOCAB, "to", 9, generator=torch.Generator().manual_seed(0))),
         returns=lambda pair: pair[0] == pair[1], state=STATE),
    Case("generate: top_p 0", lambda: MODEL.generate(VOCAB, "to", 5, top_p=0), raises=ValueError,
         match=r"top_p must be a number in \(0, 1\].*got 0", state=STATE),
    Case("generate: top_p 1.5", lambda: MODEL.generate(VOCAB, "to", 5, top_p=1.5), raises=ValueError,
         match=r"top_p must be a number in \(0, 1\].*got 1\.5", state=STATE),
    Case("generate: top_p True", lambda: MODEL.generate(VOCAB, "to", 5, top_p=True), raises=ValueError,
         match=r"top_p must be a number in \(0, 1\].*got True", state=STATE),
    Case("generate: a bad top_k with n = 0 is still refused", lambda: MODEL.generate(VOCAB, "to", 0, top_k=-1),
         raises=ValueError, match=r"top_k must be an integer >= 1", state=STATE),
    Case("generate: a seed where the generator goes", lambda: MODEL.generate(VOCAB, "to", 5, generator=0),
         raises=TypeError,
         match=r"generator must be a torch\.Generator \(e\.g\. torch\.Generator\(\)\.manual_seed\(0\)\) or None, "
               r"got int",
         state=STATE),
    Case("generate: use_cache 'no'", lambda: MODEL.generate(VOCAB, "to", 5, use_cache="no"), raises=TypeError,
         match=r"use_cache must be True or False, got 'no'", state=STATE),
    Case("generate: a text where the vocabulary goes", lambda: MODEL.generate(TEXT, "to", 5), raises=TypeError,
         match=r"vocab must be the CharVocab the model was trained with.*got str", state=STATE),
    Case("generate: a vocabulary of another size", lambda: MODEL.generate(CharVocab.from_text("abc"), "ab", 5),
         raises=ValueError, match=r"vocab has 3 characters, the model was built for 17", state=STATE),
    Case("generate: a model with NaN weights", lambda: NAN_GPT.generate(VOCAB, "to", 3), raises=ValueError,
         match=r"the model's logits are NaN or infinite.*retrain or reload",
         state=lambda: model_state(NAN_GPT)),
    Case("generate: an error inside gives every mode back", lambda: FAILING.generate(VOCAB, "to", 3),
         raises=RuntimeError, match="a failing layer", state=FAILING_STATE),
    # sample_next
    Case("sample_next: a (1, T, V) batch of logits", lambda: charlm.sample_next(torch.zeros(1, 3, V)),
         raises=ValueError, match=r"logits must be a 1-D tensor \(V,\) for one position, e\.g\. logits\[0, -1\], "
                                  r"got \(1, 3, 17\)"),
    Case("sample_next: a list", lambda: charlm.sample_next([0.1, 0.2]), raises=ValueError,
         match=r"logits must be a 1-D tensor \(V,\).*got list"),
    Case("sample_next: empty logits", lambda: charlm.sample_next(torch.zeros(0)), raises=ValueError,
         match=r"logits must be a 1-D tensor \(V,\).*got \(0,\)"),
    Case("sample_next: integer logits", lambda: charlm.sample_next(torch.tensor([1, 2])), raises=TypeError,
         match=r"logits must be a floating-point tensor, got torch\.int64"),
    Case("sample_next: -inf in the logits", lambda: charlm.sample_next(torch.tensor([0.0, float("-inf")])),
         raises=ValueError, match=r"logits are NaN or infinite"),
    Case("sample_next: temperature -0.5", lambda: charlm.sample_next(torch.zeros(3), temperature=-0.5),
         raises=ValueError, match=r"temperature must be a finite number >= 0.*got -0\.5"),
    Case("sample_next: one character", lambda: charlm.sample_next(torch.zeros(1), top_p=0.3),
         returns=lambda i: i == 0),
    # CharLM.generate takes the same filters (its temperature stays > 0: tests of 02-04 pin that)
    Case("CharLM.generate: top_k 0", lambda: _lm().generate(VOCAB, "to", 5, top_k=0), raises=ValueError,
         match=r"top_k must be an integer >= 1"),
    Case("CharLM.generate: temperature 0 is greedy, as for the GPT",
         lambda: _lm().generate(VOCAB, "to", 5, temperature=0) == _lm().generate(VOCAB, "to", 5, temperature=1e-300),
         returns=lambda same: same is True),
    Case("CharLM.generate: negative temperature", lambda: _lm().generate(VOCAB, "to", 5, temperature=-1),
         raises=ValueError, match=r"temperature must be a finite number >= 0"),
    # block_loss
    Case("block_loss: block_size 0", lambda: charlm.block_loss(MODEL, IDS, 0), raises=ValueError,
         match=r"block_size must be an integer >= 1, got 0", state=STATE),
    Case("block_loss: block_size longer than the text", lambda: charlm.block_loss(_gpt(block_size=64), IDS, 50),
         raises=ValueError, match=r"ids has 43 tokens, needs more than block_size=50.*use a smaller block_size"),
    Case("block_loss: block_size longer than the model's context", lambda: charlm.block_loss(MODEL, IDS, 13),
         raises=ValueError, match=r"block_size=13 is longer than the model's context \(config\.block_size=12\)",
         state=STATE),
    Case("block_loss: batches 0", lambda: charlm.block_loss(MODEL, IDS, 8, batches=0), raises=ValueError,
         match=r"batches must be an integer >= 1, got 0", state=STATE),
    Case("block_loss: batch_size 0", lambda: charlm.block_loss(MODEL, IDS, 8, batch_size=0), raises=ValueError,
         match=r"batch_size must be an integer >= 1, got 0", state=STATE),
    Case("block_loss: a billion characters", lambda: charlm.block_loss(MODEL, IDS, 8, batches=10**6, batch_size=125),
         raises=ValueError, match=r"1,000,000,000 characters .*at most 10,000,000.*fewer batches", state=STATE,
         timeout=5),
    Case("block_loss: seed '0'", lambda: charlm.block_loss(MODEL, IDS, 8, seed="0"), raises=TypeError,
         match=r"seed must be an integer, got str", state=STATE),
    Case("block_loss: float ids", lambda: charlm.block_loss(MODEL, IDS.float(), 8), raises=TypeError,
         match=r"ids must hold integer token ids.*got dtype torch\.float32", state=STATE),
    Case("block_loss: the text itself", lambda: charlm.block_loss(MODEL, TEXT, 8), raises=TypeError,
         match=r"ids must be a 1-D tensor of token ids \(vocab\.encode\(text\)\), got str", state=STATE),
    Case("block_loss: a (1, N) batch", lambda: charlm.block_loss(MODEL, IDS[None], 8), raises=ValueError,
         match=r"ids must be a 1-D text.*\(1, 43\).*ids\.view\(-1\)", state=STATE),
    Case("block_loss: ids of another vocabulary", lambda: charlm.block_loss(MODEL, IDS + V, 8), raises=ValueError,
         match=r"ids must hold token ids in 0\.\.16 \(the model's vocabulary\).*encode the text with", state=STATE),
    Case("block_loss: the class, not a model", lambda: charlm.block_loss(gpt.GPT, IDS, 8), raises=TypeError,
         match=r"model must be a language model .*got type"),
    Case("block_loss: an error inside gives every mode back", lambda: charlm.block_loss(FAILING, IDS, 8),
         raises=RuntimeError, match="a failing layer", state=FAILING_STATE),
    Case("block_loss: NumPy sizes", lambda: charlm.block_loss(DOUBLE, IDS, np.int64(8), np.int64(2), np.int64(3)),
         returns=lambda x: isinstance(x, float) and 0 < x < 10),
    # windowed_loss
    Case("windowed_loss: stride 0", lambda: charlm.windowed_loss(MODEL, IDS, 8, stride=0), raises=ValueError,
         match=r"stride must be an integer >= 1, got 0", state=STATE),
    Case("windowed_loss: stride longer than the block", lambda: charlm.windowed_loss(MODEL, IDS, 8, stride=9),
         raises=ValueError, match=r"stride must be <= block_size=8 \(a larger stride would skip characters\), got 9"
                                  r".*block_size // 2 = 4", state=STATE),
    Case("windowed_loss: block_size 0", lambda: charlm.windowed_loss(MODEL, IDS, 0), raises=ValueError,
         match=r"block_size must be an integer >= 1, got 0", state=STATE),
    Case("windowed_loss: block_size longer than the text", lambda: charlm.windowed_loss(_gpt(block_size=64), IDS, 43),
         raises=ValueError, match=r"ids has 43 tokens, needs more than block_size=43"),
    Case("windowed_loss: block_size longer than the model's context", lambda: charlm.windowed_loss(MODEL, IDS, 20),
         raises=ValueError, match=r"block_size=20 is longer than the model's context", state=STATE),
    Case("windowed_loss: batch_size 0", lambda: charlm.windowed_loss(MODEL, IDS, 8, batch_size=0), raises=ValueError,
         match=r"batch_size must be an integer >= 1, got 0", state=STATE),
    Case("windowed_loss: too many windows", lambda: charlm.windowed_loss(MODEL, torch.zeros(10**6, dtype=torch.long),
                                                                         12, stride=1),
         raises=ValueError, match=r"999,988 windows of block_size=12 read 11,999,856 characters.*at most 10,000,000"
                                  r".*larger stride", state=STATE, timeout=10),
    Case("windowed_loss: a text of block_size + 1 is one window",
         lambda: (charlm.windowed_loss(DOUBLE, IDS[:9], 8), charlm.block_loss(DOUBLE, IDS[:9], 8, batches=1,
                                                                              batch_size=1)),
         returns=lambda pair: abs(pair[0] - pair[1]) < 1e-12),
    Case("windowed_loss: block_size 1, default stride",
         lambda: charlm.windowed_loss(DOUBLE, IDS, 1), returns=lambda x: isinstance(x, float) and 0 < x < 10),
    Case("windowed_loss: an error inside gives every mode back", lambda: charlm.windowed_loss(FAILING, IDS, 8),
         raises=RuntimeError, match="a failing layer", state=FAILING_STATE),
    # Block.from_torch
    Case("Block.from_torch: a post-LN layer", lambda: gpt.Block.from_torch(_post_ln_layer()), raises=ValueError,
         match=r"pre-LN: build the PyTorch layer with norm_first=True"),
    Case("Block.from_torch: ReLU", lambda: gpt.Block.from_torch(
        nn.TransformerEncoderLayer(8, 2, 32, dropout=0.0, batch_first=True, norm_first=True)), raises=ValueError,
         match=r"exact GELU: build the PyTorch layer with activation='gelu'"),
    Case("Block.from_torch: batch_first=False", lambda: gpt.Block.from_torch(
        nn.TransformerEncoderLayer(8, 2, 32, activation="gelu", norm_first=True)), raises=ValueError,
         match=r"batch first: build the PyTorch layer with batch_first=True"),
    Case("Block.from_torch: the default feed-forward width", lambda: gpt.Block.from_torch(
        nn.TransformerEncoderLayer(8, 2, activation="gelu", batch_first=True, norm_first=True)), raises=ValueError,
         match=r"4 × d_model = 32 wide, the layer's is 2048: build it with dim_feedforward=32"),
    Case("Block.from_torch: not an encoder layer", lambda: gpt.Block.from_torch(nn.Linear(8, 8)), raises=TypeError,
         match=r"expected an nn\.TransformerEncoderLayer, got Linear"),
]


def _lm():
    torch.manual_seed(0)
    return rnn.CharLM(vocab_size=V, emb=4, hidden=6)


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_input(case):
    run_case(case)
