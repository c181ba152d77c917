"""The architecture-independent char-LM helpers (notebooks 03 and 07): the sampler and the two held-out evaluators.

The sampler must draw exactly what ``CharLM.generate`` drew before it delegated to ``charlm.sample_next`` (notebooks
02-04 have committed outputs); the evaluators are checked against direct loops.
"""
import math

import pytest
import torch
import torch.nn.functional as F

from course_lib import charlm, data, gpt, rnn
from course_lib.data import CharVocab

TEXT = "to be, or not to be: that is the question.\n"
VOCAB = CharVocab.from_text(TEXT)
V = len(VOCAB)


def _old_draw(last: torch.Tensor, temperature: float, generator) -> int:
    """The sampling step of ``CharLM.generate`` before it called ``sample_next``, copied unchanged."""
    last = last.double()  # (V,)
    scaled = last / temperature
    if not torch.isfinite(scaled).all():
        scaled = (last - last.max()) / temperature
    probs = torch.softmax(scaled, dim=-1).cpu()  # (V,)
    return int(torch.multinomial(probs, 1, generator=generator))


def _old_generate(model, prompt, n, temperature, generator):
    """``CharLM.generate``'s loop before the change, with the old sampling step."""
    with torch.no_grad():
        model.eval()
        logits, state = model(VOCAB.encode(prompt).unsqueeze(0))
        new = []
        for step in range(n):
            new.append(_old_draw(logits[0, -1], temperature, generator))
            if step < n - 1:
                logits, state = model(torch.tensor([[new[-1]]]), state)
    return prompt + VOCAB.decode(new)


# -- sample_next -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("temperature", [1.0, 0.6, 2.0, 1e-4, 1e-310])
def test_sample_next_draws_what_the_old_sampler_drew(temperature):
    g_old, g_new = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    gen = torch.Generator().manual_seed(11)
    for _ in range(200):
        logits = torch.randn(V, generator=gen) * 3  # float32, as a model's
        assert charlm.sample_next(logits, temperature, generator=g_new) == _old_draw(logits, temperature, g_old)
    assert torch.equal(g_old.get_state(), g_new.get_state())  # one random number per draw, as before


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("temperature", [1.0, 0.5, 1e-310])
def test_charlm_generate_is_unchanged(cell, temperature):
    torch.manual_seed(0)
    model = rnn.CharLM(vocab_size=V, cell=cell, emb=4, hidden=6)
    new = model.generate(VOCAB, "to be", 40, temperature=temperature, generator=torch.Generator().manual_seed(123))
    old = _old_generate(model, "to be", 40, temperature, torch.Generator().manual_seed(123))
    assert new == old


def test_charlm_generate_matches_strings_recorded_before_the_change():
    """Recorded with the code before ``sample_next`` existed (torch 2.13, CPU), on float64 models."""
    recorded = {("lstm", 1.0): "to beuo tu.orr.ir,qaoe.an.e  o,qirh",
                ("lstm", 0.6): "to beroutoeqrr.ir,qooe..r.e  o,qirh",
                ("gru", 1.0): "to beuo,\nussrrnir,ua,e.ar,\nu a,\niss",
                ("gru", 0.6): "to beno,\nur,\n\nsss\nsaeeen,\n\n\n\nae\niss"}
    for (cell, temperature), expected in recorded.items():
        torch.manual_seed(0)
        model = rnn.CharLM(vocab_size=V, cell=cell, emb=8, hidden=16).double()
        with torch.no_grad():
            model.head.weight.mul_(8)  # a peakier distribution than an untrained model's
        text = model.generate(VOCAB, "to be", 30, temperature=temperature, generator=torch.Generator().manual_seed(7))
        assert text == expected


def test_temperature_zero_is_greedy_and_uses_no_randomness():
    gen = torch.Generator().manual_seed(0)
    g = torch.Generator().manual_seed(5)
    before = g.get_state()
    for _ in range(50):
        logits = torch.randn(V, generator=gen)
        assert charlm.sample_next(logits, 0.0, generator=g) == int(logits.argmax())
        assert charlm.sample_next(logits, 0, top_k=3, top_p=0.5) == int(logits.argmax())
    assert torch.equal(g.get_state(), before)
    assert charlm.sample_next(torch.tensor([1.0, 3.0, 3.0]), 0) == 1  # ties: the first, as argmax


def test_top_k_1_and_a_tiny_top_p_are_greedy():
    gen = torch.Generator().manual_seed(1)
    g = torch.Generator().manual_seed(2)
    for _ in range(100):
        logits = torch.randn(V, generator=gen)
        best = int(logits.argmax())
        assert charlm.sample_next(logits, 1.0, top_k=1, generator=g) == best
        assert charlm.sample_next(logits, 1.7, top_p=1e-9, generator=g) == best
    assert charlm.sample_next(torch.tensor([2.0, 5.0, 5.0]), 1.0, top_p=1e-9, generator=g) == 1  # ties: the first


def test_keeping_everything_draws_as_without_a_filter():
    gen = torch.Generator().manual_seed(4)
    g_a, g_b, g_c = (torch.Generator().manual_seed(9) for _ in range(3))
    for _ in range(100):
        logits = torch.randn(V, generator=gen)
        plain = charlm.sample_next(logits, 0.8, generator=g_a)
        assert charlm.sample_next(logits, 0.8, top_k=V + 5, generator=g_b) == plain
        assert charlm.sample_next(logits, 0.8, top_p=1.0, generator=g_c) == plain


def _frequencies(draws: list[int], size: int) -> torch.Tensor:
    return torch.bincount(torch.tensor(draws), minlength=size).double() / len(draws)


def test_top_k_and_top_p_keep_the_right_characters_with_renormalised_probabilities():
    p = torch.tensor([0.05, 0.5, 0.15, 0.3], dtype=torch.float64)  # ranked: 1, 3, 2, 0
    logits = p.log()
    g = torch.Generator().manual_seed(0)
    N = 2_000
    cases = {  # setting -> the probabilities the draw must follow
        (2, None): torch.tensor([0, 0.5, 0, 0.3]),  # the 2 most likely
        (None, 0.75): torch.tensor([0, 0.5, 0, 0.3]),  # 0.5 < 0.75, 0.5 + 0.3 >= 0.75: two characters
        (None, 0.81): torch.tensor([0, 0.5, 0.15, 0.3]),  # 0.8 < 0.81: a third is needed
        (None, 0.5): torch.tensor([0, 1.0, 0, 0]),  # the most likely one alone reaches 0.5
        (3, 0.75): torch.tensor([0, 0.5, 0, 0.3]),
    }
    for (top_k, top_p), expected in cases.items():
        expected = expected.double() / expected.sum()
        draws = [charlm.sample_next(logits, 1.0, top_k=top_k, top_p=top_p, generator=g) for _ in range(N)]
        freq = _frequencies(draws, 4)
        assert torch.equal(freq > 0, expected > 0), (top_k, top_p, freq)  # exactly the kept characters
        assert (freq - expected).abs().max() < 5 * math.sqrt(0.25 / N), (top_k, top_p, freq)  # 5 sigma


def test_temperature_scales_the_logits():
    logits = torch.tensor([0.0, 1.0, 2.0])
    g = torch.Generator().manual_seed(0)
    N = 4_000
    draws = [charlm.sample_next(logits, 2.0, generator=g) for _ in range(N)]
    expected = torch.softmax(logits.double() / 2.0, dim=0)
    assert (_frequencies(draws, 3) - expected).abs().max() < 5 * math.sqrt(0.25 / N)  # 5 sigma


def test_charlm_generate_takes_top_k_and_top_p():
    torch.manual_seed(0)
    model = rnn.CharLM(vocab_size=V, cell="gru", emb=4, hidden=6)
    greedy = model.generate(VOCAB, "the", 8, temperature=1e-310)
    assert model.generate(VOCAB, "the", 8, top_k=1, generator=torch.Generator().manual_seed(0)) == greedy
    assert model.generate(VOCAB, "the", 8, top_p=1e-9, generator=torch.Generator().manual_seed(0)) == greedy


# -- block_loss --------------------------------------------------------------------------------------------------------

def _tiny_gpt(seed=0, **kwargs):
    torch.manual_seed(seed)
    config = dict(vocab_size=V, block_size=8, n_layer=2, n_head=2, n_embd=8)
    config.update(kwargs)
    return gpt.GPT(**config).double()


IDS = VOCAB.encode(TEXT * 3)  # 129 ids


def test_block_loss_is_the_mean_over_seeded_random_blocks():
    model = _tiny_gpt()
    g = torch.Generator().manual_seed(4)
    losses = []
    with torch.no_grad():
        for _ in range(5):
            x, y = data.lm_batch(IDS, 3, 8, generator=g)  # the blocks block_loss must read
            logits = model(x)  # (3, 8, V)
            losses.append(F.cross_entropy(logits.reshape(-1, V), y.reshape(-1)))
    expected = float(torch.stack(losses).mean())
    got = charlm.block_loss(model, IDS, 8, batches=5, batch_size=3, seed=4)
    assert abs(got - expected) < 1e-12
    assert charlm.block_loss(model, IDS, 8, batches=5, batch_size=3, seed=4) == got  # reproducible
    assert charlm.block_loss(model, IDS, 8, batches=5, batch_size=3, seed=5) != got  # other blocks
    assert model.training  # its mode given back


def test_block_loss_reads_a_charlm_pair_too():
    torch.manual_seed(0)
    model = rnn.CharLM(vocab_size=V, emb=4, hidden=6).double()
    x, y = data.lm_batch(IDS, 2, 6, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = rnn.lm_loss(model(x), y).item()
    assert abs(charlm.block_loss(model, IDS, 6, batches=1, batch_size=2) - expected) < 1e-12


# -- windowed_loss -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n,block,stride", [(20, 8, 4), (8, 8, 4), (9, 8, 3), (50, 7, 1), (50, 7, 7), (33, 6, 5),
                                            (101, 16, 8), (17, 1, 1)])
def test_window_starts_score_every_prediction_once_with_enough_context(n, block, stride):
    seen = []
    for start, first in charlm.window_starts(n, block, stride):
        assert 0 <= start and start + block <= n  # every window is full and inside the text
        for p in range(first, block):
            j = start + p  # the prediction of ids[j + 1]
            seen.append(j)
            if j >= block:  # past the first window: predicted from at least block - stride + 1 characters
                assert p + 1 >= block - stride + 1
    assert sorted(seen) == list(range(n))
    assert len(charlm.window_starts(n, block, stride)) == 1 + math.ceil((n - block) / stride)  # as windowed_loss counts


def _sliding_loss(model, ids, block):
    """Every character predicted from exactly the ``block`` characters before it (fewer at the start), one model call
    per character: the definition of a full-context evaluation."""
    total = 0.0
    with torch.no_grad():
        for j in range(len(ids) - 1):
            context = ids[max(0, j - block + 1) : j + 1]
            logits = model(context[None])  # (1, len(context), V)
            total -= float(torch.log_softmax(logits[0, -1], dim=-1)[ids[j + 1]])
    return total / (len(ids) - 1)


def test_windowed_loss_with_stride_1_is_the_sliding_window():
    model = _tiny_gpt(seed=1)
    ids = IDS[:40]
    assert abs(charlm.windowed_loss(model, ids, 8, stride=1) - _sliding_loss(model, ids, 8)) < 1e-12


def _window_by_window(model, ids, block, stride):
    """Windows at 0, stride, 2 stride, ... and one that ends at the end of the text, one at a time; a prediction is
    scored by the first window that holds it."""
    n = len(ids) - 1
    starts = list(range(0, n - block + 1, stride))
    if starts[-1] + block < n:
        starts.append(n - block)
    scored = {}
    with torch.no_grad():
        for s in starts:
            logp = torch.log_softmax(model(ids[None, s : s + block])[0], dim=-1)  # (block, V)
            for p in range(block):
                if s + p not in scored:
                    scored[s + p] = -float(logp[p, ids[s + p + 1]])
    assert sorted(scored) == list(range(n))
    return sum(scored.values()) / n


@pytest.mark.parametrize("length,block,stride", [(129, 8, None), (60, 8, 3), (9, 8, None), (45, 5, 5)])
def test_windowed_loss_equals_a_window_by_window_loop(length, block, stride):
    model = _tiny_gpt(seed=2)
    ids = IDS[:length]
    expected = _window_by_window(model, ids, block, stride or block // 2)
    for batch_size in (1, 3, 64):
        got = charlm.windowed_loss(model, ids, block, stride=stride, batch_size=batch_size)
        assert abs(got - expected) < 1e-12
    assert model.training


def test_windowed_loss_with_stride_block_is_the_plain_block_loss():
    """Non-overlapping windows on a text of whole blocks: the consecutive blocks of data.lm_eval_batches."""
    torch.manual_seed(0)
    model = rnn.CharLM(vocab_size=V, cell="gru", emb=4, hidden=6).double()
    ids = IDS[: 8 * 10 + 1]
    batches = data.lm_eval_batches(ids, 4, 8)
    with torch.no_grad():
        expected = sum(rnn.lm_loss(model(x), y).item() * x.numel() for x, y in batches) / 80
    assert abs(charlm.windowed_loss(model, ids, 8, stride=8) - expected) < 1e-12


def test_more_context_does_not_hurt_a_model_that_learned_the_text():
    """On a repeated text, a trained model predicts better with more context: windowed <= block loss (a sanity check
    of the two estimates' order, not a theorem)."""
    torch.manual_seed(0)
    model = gpt.GPT(vocab_size=V, block_size=16, n_layer=1, n_head=2, n_embd=16)
    ids = VOCAB.encode(TEXT * 20)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(60):
        x, y = data.lm_batch(ids, 16, 16, generator=g)
        loss = F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    held = VOCAB.encode(TEXT * 4)
    assert charlm.windowed_loss(model, held, 16) < charlm.block_loss(model, held, 16, batches=20, batch_size=8)


def test_warmup_cosine_climbs_then_decays_to_the_floor():
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=4e-3)
    schedule = charlm.warmup_cosine(optimizer, steps=110, warmup=10, floor=0.05)
    rates = []
    for _ in range(110):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert rates[0] == pytest.approx(4e-4) and rates[9] == pytest.approx(4e-3)  # linear warm-up to the peak
    assert rates[10] == pytest.approx(4e-3) and rates[60] == pytest.approx(4e-3 * (0.05 + 0.95 * 0.5))
    assert rates[-1] == pytest.approx(2e-4, rel=1e-2)  # nanoGPT's min_lr = peak / 20
    assert all(a >= b for a, b in zip(rates[9:], rates[10:]))
    with pytest.raises(ValueError, match="warmup"):
        charlm.warmup_cosine(optimizer, steps=5, warmup=10)
    with pytest.raises(ValueError, match="floor"):
        charlm.warmup_cosine(optimizer, steps=5, warmup=1, floor=2)
    with pytest.raises(TypeError, match="optimizer"):
        charlm.warmup_cosine("adam", steps=5, warmup=1)
