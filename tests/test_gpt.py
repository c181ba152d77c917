"""The character GPT (notebook 07): the causal mask, a block against PyTorch's pre-LN encoder layer, the key/value
cache, generation with and without it, weight tying, initialisation, and a short training run."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib import charlm, checkpoint, data, gpt, train
from course_lib.data import CharVocab

TOL = 1e-6
TEXT = "to be, or not to be: that is the question.\n"
VOCAB = CharVocab.from_text(TEXT)
V = len(VOCAB)


def _gpt(seed=0, dtype=torch.float64, **kwargs):
    torch.manual_seed(seed)
    config = dict(vocab_size=V, block_size=12, n_layer=2, n_head=2, n_embd=8)
    config.update(kwargs)
    return gpt.GPT(**config).to(dtype)


def _causal(T):
    return torch.ones(T, T, dtype=torch.bool).triu(1)  # True = may not attend: the keys after the query


# -- the configuration, the parameters ---------------------------------------------------------------------------------

@pytest.mark.parametrize("bias", [True, False])
def test_config_counts_the_parameters_of_the_model(bias):
    config = gpt.GPTConfig(vocab_size=11, block_size=7, n_layer=3, n_head=2, n_embd=12, bias=bias)
    model = gpt.GPT(config)
    assert model.num_parameters() == config.num_parameters() == sum(p.numel() for p in model.parameters())
    assert gpt.GPTConfig(vocab_size=65).num_parameters() == 809_856  # nanoGPT's CPU recipe: about 0.8 M


def test_config_and_keyword_arguments_build_the_same_model():
    assert gpt.GPT(vocab_size=5, n_embd=16).config == gpt.GPTConfig(vocab_size=5, n_embd=16)
    with pytest.raises(ValueError, match=r"n_embd \(10\) must be divisible by n_head \(4\)"):
        gpt.GPTConfig(vocab_size=5, n_embd=10, n_head=4)


def test_the_output_layer_is_tied_to_the_token_embedding(tmp_path):
    model = _gpt(dtype=torch.float32)
    assert model.lm_head.weight is model.wte.weight
    assert "lm_head.weight" not in dict(model.named_parameters())  # one parameter, counted once
    logits = model(torch.tensor([[1, 2, 3]]))
    x = model.ln_f(model.blocks[1](model.blocks[0](model.wte(torch.tensor([[1, 2, 3]])) + model.wpe.weight[:3],
                                                     _causal(3))[0], _causal(3))[0])
    assert (logits - x @ model.wte.weight.T).abs().max() <= TOL  # logits = LN_f(x) E^T
    logits.sum().backward()  # the gradient of both uses lands in the one matrix
    assert model.wte.weight.grad is not None
    path = checkpoint.save(model, tmp_path / "gpt.safetensors")  # tied weights survive a checkpoint
    again = _gpt(seed=5, dtype=torch.float32)
    checkpoint.load(again, path)
    assert again.lm_head.weight is again.wte.weight and torch.equal(again.wte.weight, model.wte.weight)


def test_initialisation_is_gpt2s():
    torch.manual_seed(0)
    model = gpt.GPT(vocab_size=65, n_layer=4, n_embd=128)
    assert abs(model.wte.weight.std().item() - 0.02) < 0.002
    assert abs(model.wpe.weight.std().item() - 0.02) < 0.002
    residual = 0.02 / math.sqrt(2 * 4)
    for block in model.blocks:
        assert abs(block.attn.W_q.weight.std().item() - 0.02) < 0.001
        assert abs(block.mlp.fc.weight.std().item() - 0.02) < 0.001
        assert abs(block.attn.W_o.weight.std().item() - residual) < 0.001
        assert abs(block.mlp.proj.weight.std().item() - residual) < 0.001
        assert not block.mlp.fc.bias.any() and not block.attn.W_o.bias.any()
        assert torch.equal(block.ln_1.weight, torch.ones(128)) and not block.ln_1.bias.any()


# -- the causal mask ---------------------------------------------------------------------------------------------------

def test_changing_a_future_character_does_not_move_earlier_logits():
    model = _gpt(dtype=torch.float32)
    idx = VOCAB.encode("to be, or no").unsqueeze(0)  # (1, 12)
    changed = idx.clone()
    changed[0, 7] = (changed[0, 7] + 1) % V
    a, wa = model(idx, return_weights=True)
    b, wb = model(changed, return_weights=True)
    assert (a[:, :7] - b[:, :7]).abs().max().item() == 0.0  # exactly: position t never sees t + 1 ..
    assert (a[:, 7:] - b[:, 7:]).abs().amax(dim=-1).min().item() > 0  # every later position does see it
    assert wa.shape == (1, 2, 2, 12, 12)
    assert not wa.triu(1).any()  # no weight on a future key, in any layer or head
    assert torch.allclose(wa.sum(-1), torch.ones(1, 2, 2, 12))


def test_the_fused_attention_gives_the_same_logits_and_gradients():
    """Training runs the fused kernel (return_weights=False), the explorer the explicit one: the same model."""
    model = _gpt()
    idx = VOCAB.encode("to be, or no").unsqueeze(0)
    fused = model(idx)
    explicit, _ = model(idx, return_weights=True)
    assert (fused - explicit).abs().max() <= TOL
    g_fused = torch.autograd.grad(fused.square().sum(), list(model.parameters()))
    g_explicit = torch.autograd.grad(explicit.square().sum(), list(model.parameters()))
    assert max((a - b).abs().max() for a, b in zip(g_fused, g_explicit)) <= TOL


# -- a block against PyTorch -------------------------------------------------------------------------------------------

def _torch_layer(C=8, heads=2, bias=True, seed=0):
    torch.manual_seed(seed)
    layer = nn.TransformerEncoderLayer(C, heads, dim_feedforward=4 * C, dropout=0.0, activation="gelu",
                                       batch_first=True, norm_first=True, bias=bias, dtype=torch.float64)
    with torch.no_grad():  # layer norms away from 1 and 0, so that a swapped norm would show
        for norm in (layer.norm1, layer.norm2):
            norm.weight.uniform_(0.5, 1.5)
            if bias:
                norm.bias.uniform_(-0.5, 0.5)
    return layer


@pytest.mark.parametrize("bias", [True, False])
def test_a_block_equals_pytorchs_pre_ln_encoder_layer_with_a_causal_mask(bias):
    layer = _torch_layer(bias=bias)
    block = gpt.Block.from_torch(layer)
    x = torch.randn(3, 7, 8, dtype=torch.float64, requires_grad=True)
    ours, weights = block(x, _causal(7))
    theirs = layer(x, src_mask=_causal(7))
    assert (ours - theirs).abs().max().item() <= TOL
    assert weights.shape == (3, 2, 7, 7) and not weights.triu(1).any()
    g = torch.randn_like(ours)
    grad_ours = torch.autograd.grad(ours, [x, *block.parameters()], g)
    grad_theirs = torch.autograd.grad(theirs, [x, *layer.parameters()], g)
    assert (grad_ours[0] - grad_theirs[0]).abs().max().item() <= TOL  # with respect to the input
    ours_by_name = dict(zip([n for n, _ in block.named_parameters()], grad_ours[1:]))
    theirs_by_name = dict(zip([n for n, _ in layer.named_parameters()], grad_theirs[1:]))
    C = 8
    pairs = {"ln_1.weight": "norm1.weight", "ln_2.weight": "norm2.weight", "mlp.fc.weight": "linear1.weight",
             "mlp.proj.weight": "linear2.weight", "attn.W_o.weight": "self_attn.out_proj.weight"}
    if bias:
        pairs.update({"ln_1.bias": "norm1.bias", "mlp.fc.bias": "linear1.bias",
                      "attn.W_o.bias": "self_attn.out_proj.bias"})
    for ours_name, theirs_name in pairs.items():
        assert (ours_by_name[ours_name] - theirs_by_name[theirs_name]).abs().max().item() <= TOL, ours_name
    packed = torch.cat([ours_by_name[f"attn.W_{m}.weight"] for m in "qkv"])  # (3C, C), PyTorch's in_proj layout
    assert packed.shape == (3 * C, C)
    assert (packed - theirs_by_name["self_attn.in_proj_weight"]).abs().max().item() <= TOL


def test_the_whole_gpt_equals_a_stack_of_pytorch_layers():
    model = _gpt(n_layer=3)
    layers = [_torch_layer(seed=s) for s in range(3)]
    for l, layer in enumerate(layers):
        model.blocks[l] = gpt.Block.from_torch(layer)
    idx = torch.randint(V, (2, 10), generator=torch.Generator().manual_seed(0))
    ours = model(idx)
    x = model.wte(idx) + model.wpe(torch.arange(10))  # (2, 10, C)
    for layer in layers:
        x = layer(x, src_mask=_causal(10))
    theirs = F.layer_norm(x, (8,), model.ln_f.weight, model.ln_f.bias) @ model.wte.weight.T  # (2, 10, V)
    assert (ours - theirs).abs().max().item() <= TOL
    grad_ours = torch.autograd.grad(ours.square().sum(), model.wte.weight)[0]
    grad_theirs = torch.autograd.grad(theirs.square().sum(), model.wte.weight)[0]
    assert (grad_ours - grad_theirs).abs().max().item() <= TOL


# -- the key/value cache -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("pieces", [[1] * 12, [5, 1, 1, 3, 2], [12]])
def test_reading_in_pieces_with_caches_equals_one_full_forward(pieces):
    model = _gpt()
    idx = torch.randint(V, (2, 12), generator=torch.Generator().manual_seed(1))
    full, full_weights = model(idx, return_weights=True)  # (2, 12, V), (2, L, h, 12, 12)
    caches = model.new_caches()
    start = 0
    for size in pieces:
        logits, weights = model(idx[:, start : start + size], caches, return_weights=True)
        assert (logits - full[:, start : start + size]).abs().max().item() <= TOL
        assert weights.shape == (2, 2, 2, size, start + size)  # the new queries against every key so far
        assert (weights - full_weights[..., start : start + size, : start + size]).abs().max().item() <= TOL
        start += size
    assert all(len(c) == 12 for c in caches)


def test_the_context_is_at_most_block_size():
    model = _gpt()
    with pytest.raises(ValueError, match=r"block_size=12.*T = 13"):
        model(torch.zeros(1, 13, dtype=torch.long))
    caches = model.new_caches()
    model(torch.zeros(1, 10, dtype=torch.long), caches)
    with pytest.raises(ValueError, match=r"block_size=12.*10 cached \+ 3 new = 13"):
        model(torch.zeros(1, 3, dtype=torch.long), caches)
    assert all(len(c) == 10 for c in caches)  # a refused call leaves the caches as they were


# -- generation --------------------------------------------------------------------------------------------------------

def _lengths_read(model):
    """Record the length T of every forward pass (a hook on the token embedding)."""
    lengths = []
    model.wte.register_forward_hook(lambda module, args, out: lengths.append(args[0].shape[1]))
    return lengths


@pytest.mark.parametrize("n", [5, 40])
@pytest.mark.parametrize("settings", [dict(), dict(temperature=0.7, top_k=5), dict(top_p=0.9), dict(temperature=0)])
def test_generation_with_and_without_the_cache_gives_the_same_text(n, settings):
    model = _gpt(dtype=torch.float32, block_size=16)
    with_cache = model.generate(VOCAB, "to be", n, generator=torch.Generator().manual_seed(3), **settings)
    without = model.generate(VOCAB, "to be", n, generator=torch.Generator().manual_seed(3), use_cache=False,
                             **settings)
    assert with_cache == without and len(with_cache) == 5 + n and with_cache.startswith("to be")


def test_the_cache_feeds_one_character_until_the_window_is_full():
    model = _gpt(dtype=torch.float32, block_size=16)
    lengths = _lengths_read(model)
    model.generate(VOCAB, "to be", 20, generator=torch.Generator().manual_seed(0))
    # the prompt (5), one new character per step up to 16 in all, then the last 16 re-read each step
    assert lengths == [5] + [1] * 11 + [16] * 8
    lengths.clear()
    model.generate(VOCAB, "to be", 20, generator=torch.Generator().manual_seed(0), use_cache=False)
    assert lengths == [5] + list(range(6, 17)) + [16] * 8  # the whole text again each step


def _greedy(model, prompt, n):
    """The most likely character each time, re-reading the last block_size characters from scratch."""
    text = prompt
    with torch.no_grad():
        for _ in range(n):
            logits = model(VOCAB.encode(text[-model.config.block_size :]).unsqueeze(0))
            text += VOCAB.chars[int(logits[0, -1].argmax())]
    return text


def test_temperature_zero_top_k_1_and_a_tiny_top_p_are_greedy():
    model = _gpt(dtype=torch.float32, block_size=16)
    with torch.no_grad():
        model.wte.weight.mul_(20)  # a peaked distribution: sampling at temperature 1 differs from greedy
    expected = _greedy(model, "the", 30)
    assert model.generate(VOCAB, "the", 30, temperature=0) == expected
    assert model.generate(VOCAB, "the", 30, temperature=0, use_cache=False) == expected
    assert model.generate(VOCAB, "the", 30, top_k=1, generator=torch.Generator().manual_seed(0)) == expected
    assert model.generate(VOCAB, "the", 30, top_p=1e-9, generator=torch.Generator().manual_seed(0)) == expected
    assert model.generate(VOCAB, "the", 30, generator=torch.Generator().manual_seed(0)) != expected


def test_generate_is_reproducible_and_gives_the_modes_back():
    model = _gpt(dtype=torch.float32)
    model.train()
    model.blocks[0].eval()  # a mixed state must come back as it was
    a = model.generate(VOCAB, "to", 20, generator=torch.Generator().manual_seed(0))
    b = model.generate(VOCAB, "to", 20, generator=torch.Generator().manual_seed(0))
    assert a == b and not VOCAB.unseen(a)
    assert model.training and not model.blocks[0].training and model.blocks[1].training
    assert model.generate(VOCAB, "be", 0) == "be"
    assert model.generate(VOCAB, "to be, or no", 3, temperature=0).startswith("to be, or no")  # a full-block prompt


# -- training ----------------------------------------------------------------------------------------------------------

def test_a_tiny_gpt_learns_a_repeated_text():
    torch.manual_seed(0)
    model = gpt.GPT(vocab_size=V, block_size=16, n_layer=2, n_head=2, n_embd=32)
    train_ids, heldout_ids = VOCAB.encode(TEXT * 20), VOCAB.encode(TEXT * 4)
    before = charlm.block_loss(model, heldout_ids, 16, batches=10, batch_size=8)
    g = torch.Generator().manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    train.fit(model, lambda: data.lm_batch(train_ids, 16, 16, generator=g),
              lambda logits, y: F.cross_entropy(logits.reshape(-1, V), y.reshape(-1)), optimizer, steps=200,
              live=False)
    after = charlm.block_loss(model, heldout_ids, 16, batches=10, batch_size=8)
    assert before > 0.9 * math.log(V)  # an untrained model: about uniform
    assert after < 0.5 * before, (before, after)
    assert charlm.windowed_loss(model, heldout_ids, 16) < 0.5 * before
    text = model.generate(VOCAB, "to be", 30, temperature=0)
    assert "to be" in text[5:] or "question" in text  # it writes the sentence it learned
