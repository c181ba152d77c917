"""Bad and edge-case inputs of ``course_lib.transformer`` (notebook 06), one table row per call a learner might make.

Each row asserts the exact outcome (see tests/badinput.py): the error type and a message naming the argument and the
fix, or the right result. Rows that hand over a layer or a model check that its mode and weights are left as they were.
"""
import pytest
import torch
from torch import nn

from badinput import Case, ids, model_state, run_case
from course_lib import seq2seq as s2s
from course_lib.transformer import (LearnedPositionalEncoding, Seq2SeqTransformer, SinusoidalPositionalEncoding,
                                    TransformerConfig, TransformerDecoderLayer, TransformerEncoderLayer, causal_mask,
                                    sinusoidal_encoding)

D, H, FF = 8, 2, 12
g = torch.Generator().manual_seed(0)
X = torch.randn(3, 5, D, generator=g)  # (B, T, d_model)
MEMORY = torch.randn(3, 4, D, generator=g)  # (B, S, d_model)
PAD5 = torch.zeros(3, 5, dtype=torch.bool)
PAD4 = torch.zeros(3, 4, dtype=torch.bool)
torch.manual_seed(0)
ENC = TransformerEncoderLayer(D, H, FF)
DEC = TransformerDecoderLayer(D, H, FF, norm_first=True)
ENC_STATE = lambda: model_state(ENC)  # noqa: E731
DEC_STATE = lambda: model_state(DEC)  # noqa: E731


def _config(**changes):
    options = dict(src_vocab_size=13, tgt_vocab_size=13, d_model=16, num_heads=2, num_layers=1, dim_feedforward=32,
                   max_len=20)
    options.update(changes)
    return TransformerConfig(**options)


torch.manual_seed(0)
MODEL = Seq2SeqTransformer(_config())  # in training mode; rows below must leave it so
MODEL_STATE = lambda: model_state(MODEL)  # noqa: E731
SRC, TGT = s2s.reversal_data(6, 2, 6, seed=3)  # (6, 6), (6, 7)
VOCAB = s2s.reversal_vocab()


def _torch_encoder(**kwargs):
    options = dict(dropout=0.0, batch_first=True)
    options.update(kwargs)
    return nn.TransformerEncoderLayer(D, H, FF, **options)


def _without_affine():
    module = _torch_encoder()
    module.norm1 = nn.LayerNorm(D, elementwise_affine=False)
    return module


def _copy_with_dropout():
    """A PyTorch layer with dropout 0.1: its weights are copied and the two agree in eval mode."""
    module = _torch_encoder(dropout=0.1).eval()
    ours = TransformerEncoderLayer.from_torch(module)
    with torch.no_grad():
        return (ours(X)[0] - module(X)).abs().max().item()


def _padding_matches_cropping():
    """A sequence padded with two extra positions gives the same outputs at its real positions as alone."""
    padding = PAD5.clone()
    padding[:, 3:] = True
    with torch.no_grad():
        padded = ENC(X, key_padding_mask=padding)[0][:, :3]
        alone = ENC(X[:, :3])[0]
    return (padded - alone).abs().max().item()


CASES = [
    # -- the layers: construction -------------------------------------------------------------------------------------
    Case("layer: d_model not divisible by nhead", lambda: TransformerEncoderLayer(10, 3), raises=ValueError,
         match=r"d_model \(10\) must be divisible by nhead \(3\).*nhead=2"),
    Case("layer: nhead 0", lambda: TransformerEncoderLayer(8, 0), raises=ValueError, match="nhead must be an integer"),
    Case("layer: float d_model", lambda: TransformerDecoderLayer(8.0, 2), raises=ValueError,
         match="d_model must be an integer"),
    Case("layer: activation typo", lambda: TransformerEncoderLayer(8, 2, activation="ReLU"), raises=ValueError,
         match="activation must be the string 'relu' or 'gelu', got 'ReLU'"),
    Case("layer: activation function", lambda: TransformerEncoderLayer(8, 2, activation=torch.relu),
         raises=ValueError, match="activation must be"),
    Case("layer: eps 0", lambda: TransformerEncoderLayer(8, 2, layer_norm_eps=0), raises=ValueError,
         match="layer_norm_eps must be a number > 0"),
    Case("layer: norm_first as text", lambda: TransformerDecoderLayer(8, 2, norm_first="yes"), raises=TypeError,
         match="norm_first must be True or False"),
    Case("layer: far too large", lambda: TransformerEncoderLayer(100_000, 1, 100_000), raises=ValueError,
         match="parameters.*choose smaller sizes"),
    # -- the encoder layer: inputs ------------------------------------------------------------------------------------
    Case("encoder: one sequence without batch axis", lambda: ENC(X[0]), raises=ValueError, match=r"x\[None\]"),
    Case("encoder: wrong width", lambda: ENC(X[..., :6]), raises=ValueError, match=r"x must have shape \(B, T, "
                                                                                   r"d_model=8\)"),
    Case("encoder: numpy input", lambda: ENC(X.numpy()), raises=TypeError, match="x must be a torch.Tensor"),
    Case("encoder: token ids instead of vectors", lambda: ENC(torch.zeros(3, 5, D, dtype=torch.long)),
         raises=TypeError, match="x must be a floating-point tensor.*embedded first"),
    Case("encoder: float64 input, float32 layer", lambda: ENC(X.double()), raises=TypeError,
         match=r"layer.to\(torch.float64\)"),
    Case("encoder: no positions", lambda: ENC(X[:, :0]), raises=ValueError, match="x is empty"),
    Case("encoder: float padding mask", lambda: ENC(X, key_padding_mask=PAD5.float()), raises=TypeError,
         match="key_padding_mask must have dtype torch.bool"),
    Case("encoder: 0/1 padding mask", lambda: ENC(X, key_padding_mask=PAD5.long()), raises=TypeError,
         match="key_padding_mask == 0"),
    Case("encoder: padding mask with a query axis", lambda: ENC(X, key_padding_mask=PAD5[:, None, :]),
         raises=ValueError, match=r"key_padding_mask .*\(B, T\) = \(3, 5\)"),
    Case("encoder: padding mask of another length", lambda: ENC(X, key_padding_mask=PAD4), raises=ValueError,
         match=r"key_padding_mask .*\(B, T\) = \(3, 5\)"),
    Case("encoder: padding mask for one sequence", lambda: ENC(X, key_padding_mask=PAD5[0]), raises=ValueError,
         match=r"key_padding_mask must have shape \(B, T\)"),
    Case("encoder: a row of padding only", lambda: ENC(X, key_padding_mask=PAD5.index_fill(0, torch.tensor([1]),
                                                                                             True)),
         raises=ValueError, match="key_padding_mask marks every position of batch entry 1"),
    Case("encoder: list attn_mask", lambda: ENC(X, attn_mask=[[True]]), raises=TypeError,
         match="attn_mask must be a torch.bool tensor"),
    Case("encoder: float additive attn_mask", lambda: ENC(X, attn_mask=torch.zeros(5, 5)), raises=TypeError,
         match=r"attn_mask == float\('-inf'\)"),
    Case("encoder: attn_mask of another size", lambda: ENC(X, attn_mask=causal_mask(6)), raises=ValueError,
         match=r"attn_mask of shape \(6, 6\) does not fit.*causal_mask\(T\)"),
    Case("encoder: attn_mask hides every key", lambda: ENC(X, attn_mask=torch.ones(5, 5, dtype=torch.bool)),
         raises=ValueError, match="attn_mask hides every key from query 0 of batch entry 0"),
    Case("encoder: causal and padding leave a row empty",
         lambda: ENC(X, key_padding_mask=torch.tensor([[True, False, False, False, False]] * 3),
                     attn_mask=causal_mask(5)),
         raises=ValueError, match="attn_mask together with key_padding_mask hides every key from query 0"),
    Case("encoder: all-False masks = no masks",
         lambda: torch.equal(ENC(X, key_padding_mask=PAD5, attn_mask=torch.zeros(5, 5, dtype=torch.bool))[0],
                             ENC(X)[0]), returns=bool),
    Case("encoder: padding = cropping", _padding_matches_cropping, returns=lambda e: e < 1e-5),
    Case("encoder: per-head mask (B, heads, T, T) works",
         lambda: ENC(X, attn_mask=causal_mask(5).expand(3, H, 5, 5))[1],
         returns=lambda w: bool((w[..., 0, 1:] == 0).all()) and torch.allclose(w.sum(-1), torch.ones(3, H, 5))),
    Case("encoder: leaves the layer unchanged", lambda: ENC(X)[0].shape, returns=lambda s: s == (3, 5, D),
         state=ENC_STATE),
    Case("encoder: error leaves the layer unchanged", lambda: ENC(X, attn_mask=causal_mask(4)), raises=ValueError,
         match="attn_mask", state=ENC_STATE),
    # -- the encoder layer: PyTorch's layout --------------------------------------------------------------------------
    Case("encoder: from_torch with batch_first=False",
         lambda: TransformerEncoderLayer.from_torch(_torch_encoder(batch_first=False)), raises=ValueError,
         match="batch_first=False.*build it with batch_first=True"),
    Case("encoder: from_torch with tanh GELU",
         lambda: TransformerEncoderLayer.from_torch(_torch_encoder(activation=nn.GELU(approximate="tanh"))),
         raises=ValueError, match="activation=.relu. or .gelu."),
    Case("encoder: from_torch with a custom activation",
         lambda: TransformerEncoderLayer.from_torch(_torch_encoder(activation=torch.tanh)), raises=ValueError,
         match="is not supported"),
    Case("encoder: from_torch without LayerNorm weights", lambda: TransformerEncoderLayer.from_torch(_without_affine()),
         raises=ValueError, match="elementwise_affine=True"),
    Case("encoder: from_torch of a decoder layer",
         lambda: TransformerEncoderLayer.from_torch(nn.TransformerDecoderLayer(D, H, FF, batch_first=True)),
         raises=TypeError, match="needs an nn.TransformerEncoderLayer"),
    Case("encoder: from_torch of an attention", lambda: TransformerEncoderLayer.from_torch(nn.MultiheadAttention(D, H)),
         raises=TypeError, match="needs an nn.TransformerEncoderLayer, got MultiheadAttention"),
    Case("encoder: from_torch copies a layer with dropout (equal in eval mode)", _copy_with_dropout,
         returns=lambda e: e < 1e-5),
    Case("encoder: from_torch of bias=False",
         lambda: TransformerEncoderLayer.from_torch(_torch_encoder(bias=False)).linear1.bias,
         returns=lambda b: b is None),
    # -- the decoder layer ------------------------------------------------------------------------------------------
    Case("decoder: memory of another width", lambda: DEC(X, MEMORY[..., :4]), raises=ValueError,
         match=r"memory must have shape \(B, T, d_model=8\)"),
    Case("decoder: memory of another batch", lambda: DEC(X, MEMORY[:2]), raises=ValueError,
         match="same batch size"),
    Case("decoder: memory in float64", lambda: DEC(X, MEMORY.double()), raises=TypeError,
         match=r"memory has dtype torch.float64.*memory.to\(torch.float32\)"),
    Case("decoder: memory forgotten", lambda: DEC(X), raises=TypeError, match="memory"),
    Case("decoder: memory padding mask of the target's length",
         lambda: DEC(X, MEMORY, memory_key_padding_mask=PAD5), raises=ValueError,
         match=r"memory_key_padding_mask .*\(B, T\) = \(3, 4\)"),
    Case("decoder: a source of padding only", lambda: DEC(X, MEMORY, memory_key_padding_mask=torch.ones_like(PAD4)),
         raises=ValueError, match="memory_key_padding_mask marks every position of batch entry 0"),
    Case("decoder: float tgt_mask", lambda: DEC(X, MEMORY, tgt_mask=torch.zeros(5, 5)), raises=TypeError,
         match="tgt_mask must have dtype torch.bool"),
    Case("decoder: tgt_mask of shape (T, S)", lambda: DEC(X, MEMORY, tgt_mask=torch.zeros(5, 4, dtype=torch.bool)),
         raises=ValueError, match=r"tgt_mask of shape \(5, 4\) does not fit.*causal_mask"),
    Case("decoder: tgt_mask hides a row", lambda: DEC(X, MEMORY, tgt_mask=torch.arange(5)[:, None] == 4),
         raises=ValueError, match="tgt_mask hides every key from query 4"),
    Case("decoder: target padding of another length", lambda: DEC(X, MEMORY, tgt_key_padding_mask=PAD4),
         raises=ValueError, match="tgt_key_padding_mask"),
    Case("decoder: leaves the layer unchanged", lambda: DEC(X, MEMORY, tgt_mask=causal_mask(5))[2].shape,
         returns=lambda s: s == (3, H, 5, 4), state=DEC_STATE),
    Case("decoder: from_torch with batch_first=False",
         lambda: TransformerDecoderLayer.from_torch(nn.TransformerDecoderLayer(D, H, FF)), raises=ValueError,
         match="batch_first=True"),
    Case("decoder: from_torch of an encoder layer", lambda: TransformerDecoderLayer.from_torch(_torch_encoder()),
         raises=TypeError, match="needs an nn.TransformerDecoderLayer"),
    Case("decoder: from_torch with a sigmoid",
         lambda: TransformerDecoderLayer.from_torch(nn.TransformerDecoderLayer(D, H, FF, activation=torch.sigmoid,
                                                                               batch_first=True)),
         raises=ValueError, match="activation='relu' or 'gelu'"),
    # -- masks and positions ----------------------------------------------------------------------------------------
    Case("causal_mask: T 0", lambda: causal_mask(0), raises=ValueError, match="T must be an integer >= 1"),
    Case("causal_mask: T float", lambda: causal_mask(2.5), raises=ValueError, match="T must be an integer"),
    Case("causal_mask: T 1", lambda: causal_mask(1), returns=lambda m: torch.equal(m, torch.tensor([[False]]))),
    Case("sinusoidal: max_len 0", lambda: sinusoidal_encoding(0, 8), raises=ValueError, match="max_len must be"),
    Case("sinusoidal: d_model 0", lambda: sinusoidal_encoding(10, 0), raises=ValueError, match="d_model must be"),
    Case("sinusoidal: too large", lambda: sinusoidal_encoding(10**9, 512), raises=ValueError,
         match="choose a smaller max_len"),
    Case("sinusoidal: odd width works", lambda: sinusoidal_encoding(4, 5), returns=lambda pe: pe.shape == (4, 5)),
    Case("positions: longer than max_len", lambda: SinusoidalPositionalEncoding(D, 4)(X), raises=ValueError,
         match="T=5 .*max_len=4: build it with max_len >= 5"),
    Case("positions: learned, longer than max_len", lambda: LearnedPositionalEncoding(D, 3)(X), raises=ValueError,
         match="max_len >= 5"),
    Case("positions: token ids instead of embeddings", lambda: SinusoidalPositionalEncoding(D, 10)(SRC),
         raises=ValueError, match=r"x must have shape \(B, T, d_model=8\) \(embedded tokens"),
    Case("positions: integer vectors", lambda: LearnedPositionalEncoding(D, 10)(torch.zeros(2, 3, D, dtype=torch.long)),
         raises=TypeError, match="floating-point"),
    Case("positions: wrong width", lambda: SinusoidalPositionalEncoding(D, 10)(X[..., :4]), raises=ValueError,
         match="d_model=8"),
    # -- the encoder–decoder: construction ----------------------------------------------------------------------------
    Case("model: d_model not divisible by heads", lambda: Seq2SeqTransformer(_config(d_model=10, num_heads=4)),
         raises=ValueError, match=r"config.d_model \(10\) must be divisible by config.num_heads \(4\)"),
    Case("model: positional typo", lambda: Seq2SeqTransformer(_config(positional="sine")), raises=ValueError,
         match="config.positional must be 'sinusoidal', 'learned' or None"),
    Case("model: max_len beyond the course's limit", lambda: Seq2SeqTransformer(_config(max_len=500)),
         raises=ValueError, match="config.max_len must be <= 200"),
    Case("model: no layers", lambda: Seq2SeqTransformer(_config(num_layers=0)), raises=ValueError,
         match="config.num_layers"),
    Case("model: norm_first as text", lambda: Seq2SeqTransformer(_config(norm_first="pre")), raises=TypeError,
         match="config.norm_first"),
    Case("model: a dict as config", lambda: Seq2SeqTransformer({"src_vocab_size": 13}), raises=TypeError,
         match="config must be a TransformerConfig"),
    Case("model: far too large", lambda: Seq2SeqTransformer(_config(src_vocab_size=10**9)), raises=ValueError,
         match="parameters"),
    # -- the encoder–decoder: inputs ----------------------------------------------------------------------------------
    Case("model: float src", lambda: MODEL(SRC.float(), TGT), raises=TypeError, match="src must be an int64"),
    Case("model: 1-D src", lambda: MODEL(SRC[0], TGT), raises=TypeError, match=r"shape \(B, length\)"),
    Case("model: ids out of the vocabulary", lambda: MODEL(SRC, TGT + 20), raises=ValueError,
         match="tgt has ids outside 0..12"),
    Case("model: negative ids", lambda: MODEL(SRC - 5, TGT), raises=ValueError, match="src has ids outside"),
    Case("model: source longer than max_len", lambda: MODEL(SRC.repeat(1, 4), TGT), raises=ValueError,
         match=r"src has length 24 .*config.max_len=20: build it with TransformerConfig\(..., max_len=24\)"),
    Case("model: target longer than max_len", lambda: MODEL(SRC, TGT.repeat(1, 3)), raises=ValueError,
         match="tgt has length 21"),
    Case("model: beyond the course's limit", lambda: MODEL(SRC.repeat(1, 40), TGT), raises=ValueError,
         match="at most 200"),
    Case("model: src of padding only", lambda: MODEL(SRC.index_fill(0, torch.tensor([2]), 0), TGT),
         raises=ValueError, match="padding only"),
    Case("model: left padding", lambda: MODEL(torch.cat([torch.zeros_like(SRC[:, :1]), SRC], 1), TGT),
         raises=ValueError, match="padded on the right only"),
    Case("model: empty src", lambda: MODEL(SRC[:, :0], TGT), raises=ValueError, match="src is empty"),
    Case("model: batch sizes differ", lambda: MODEL(SRC, TGT[:3]), raises=ValueError, match="batch sizes differ"),
    Case("model: decode with memory of another width",
         lambda: MODEL.decode(TGT, torch.zeros(6, 6, 8), SRC == s2s.PAD), raises=ValueError,
         match=r"memory must have shape \(B, T, d_model=16\)"),
    Case("model: forward leaves it unchanged", lambda: MODEL(SRC, TGT).shape, returns=lambda s: s == (6, 7, 13),
         state=MODEL_STATE),
    # -- greedy decoding and seq2seq's helpers -------------------------------------------------------------------------
    Case("decode: uniform attention", lambda: MODEL.greedy_decode(SRC, 5, uniform_attention=True), raises=ValueError,
         match="uniform_attention=True is not supported.*use uniform_attention=False"),
    Case("decode: max_len 0", lambda: MODEL.greedy_decode(SRC, max_len=0), raises=ValueError,
         match=r"max_len must be an integer in \[1, 20\]"),
    Case("decode: max_len beyond the positions", lambda: MODEL.greedy_decode(SRC, max_len=21), raises=ValueError,
         match=r"\[1, 20\] \(config.max_len"),
    Case("decode: max_len float", lambda: MODEL.greedy_decode(SRC, max_len=5.0), raises=ValueError, match="max_len"),
    Case("decode: max_len True", lambda: MODEL.greedy_decode(SRC, max_len=True), raises=ValueError, match="max_len"),
    Case("decode: keeps train mode and weights", lambda: MODEL.greedy_decode(SRC, max_len=3)[0].shape[0],
         returns=lambda n: n == 6, state=MODEL_STATE),
    Case("decode: an error keeps the mode", lambda: MODEL.greedy_decode(SRC + 100, max_len=3), raises=ValueError,
         match="outside", state=MODEL_STATE),
    Case("decode: one step", lambda: MODEL.greedy_decode(SRC, max_len=1),
         returns=lambda r: r[0].shape == (6, 1) and r[1].shape == (6, 1, 2, 1, 6)),
    Case("translate: unseen character", lambda: s2s.translate(MODEL, "12a", VOCAB, VOCAB), raises=ValueError,
         match="never saw"),
    Case("translate: max_len beyond the positions", lambda: s2s.translate(MODEL, "123", VOCAB, VOCAB, max_len=30),
         raises=ValueError, match="max_len must be an integer in"),
    Case("translate: weights per layer and head", lambda: s2s.translate(MODEL, "123", VOCAB, VOCAB, max_len=4),
         returns=lambda r: r[2].shape == (1, 2, len(r[1]), 3)),
    Case("decode_accuracy: uniform attention", lambda: s2s.decode_accuracy(MODEL, SRC, TGT, uniform_attention=True),
         raises=ValueError, match="uniform_attention"),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_input(case):
    run_case(case)
