"""The sampling explorer of notebook 07 without a browser: the text equals GPT.generate's, the colours are the
probabilities of the distribution each character was drawn from, greedy picks the most likely character, moving the
position only redraws, the PNG fallback follows a new sample, re-created widgets do not pile up, and the attention of
the sampled text is ready for the attention explorer."""
import base64
import gc
import itertools
import types

import IPython
import numpy as np
import pytest
import torch
from ipywidgets.widgets.widget import _instances as widget_registry
from matplotlib.figure import Figure

from course_lib import charlm
from course_lib.data import CharVocab
from course_lib.gpt import GPT, GPTConfig
from course_lib.widgets.attention import attention_explorer
from course_lib.widgets.sampling import (CMAP, COLS, PROMPT_COLOUR, ROWS, TOP, SamplingExplorer, generate_with_probs,
                                         gpt_attention, sampling_explorer, wrap)

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n"
VOCAB = CharVocab.from_text(TEXT)
BLOCK = 16  # a short context, so that a 40-character sample also runs the path without the cache


def tiny_gpt(seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=len(VOCAB), block_size=BLOCK, n_layer=2, n_head=2, n_embd=16))
    with torch.no_grad():  # sharper logits than GPT-2's small initialisation: probabilities far from uniform
        model.wte.weight.mul_(40)
    return model


MODEL = tiny_gpt()
SETTINGS = [  # prompt, n, temperature, top_k, top_p, seed
    ("First", 40, 1.0, None, None, 0),
    ("All:\n", 30, 0.7, 5, None, 3),
    ("Sp", 40, 1.3, None, 0.8, 7),
    ("hear me", 25, 0.9, 4, 0.6, 11),
    ("F", 20, 0.0, None, None, 0),
    ("Citizen", 12, 2.0, 0, 1.0, 123),  # top-k 0 and top-p 1: off
]


def reference(prompt, n, temperature, top_k, top_p, seed):
    return MODEL.generate(VOCAB, prompt, n, temperature, top_k or None, top_p,
                          generator=torch.Generator().manual_seed(seed))


def direct_distribution(logits: torch.Tensor, temperature: float, top_k, top_p) -> np.ndarray:
    """The sampling distribution written out again in NumPy (not charlm's code): softmax(z / T), the k largest kept,
    then the most likely kept until their probabilities reach top_p, renormalised."""
    z = logits.double().numpy()
    if temperature == 0:
        p = np.zeros_like(z)
        p[z.argmax()] = 1
        return p
    z = z / temperature
    if top_k:
        z = np.where(z < np.sort(z)[-top_k], -np.inf, z)
    p = np.exp(z - z.max())
    p /= p.sum()
    if top_p is not None and top_p < 1:
        order = np.argsort(-p, kind="stable")
        before = np.cumsum(p[order]) - p[order]
        keep = np.zeros(len(p), dtype=bool)
        keep[order[before < top_p]] = True
        p = np.where(keep, p, 0)
        p /= p.sum()
    return p


def cell_colour(controller, index: int) -> np.ndarray:
    """The RGBA colour of the cell of character ``index`` of the shown text (prompt included)."""
    r, c = controller._cells[index]
    return np.asarray(controller.cells.get_array())[r, c]


def count_full_draws(controller) -> list:
    calls = []
    draw = controller.canvas.draw
    controller.canvas.draw = lambda: (calls.append(1), draw())
    return calls


def live_figures() -> int:
    gc.collect()
    return sum(issubclass(type(o), Figure) for o in gc.get_objects())


# -- the text and its probabilities ----------------------------------------------------------------------------------
@pytest.mark.parametrize("settings", SETTINGS, ids=[f"{s[0]!r}-T{s[2]}-k{s[3]}-p{s[4]}" for s in SETTINGS])
def test_the_text_is_what_generate_writes(settings):
    prompt, n, temperature, top_k, top_p, seed = settings
    expected = reference(*settings)
    assert generate_with_probs(MODEL, VOCAB, prompt, n, temperature, top_k or None, top_p, seed).text == expected
    c = SamplingExplorer(MODEL, VOCAB, prompt, n, temperature, top_k, top_p, seed)
    assert c.text == expected and len(c.sample.ids) == n
    c.close()


def test_the_view_samples_what_generate_writes_after_every_control():
    view = sampling_explorer(MODEL, VOCAB, "First", n=20)
    try:
        controls, c = view.controls, view.controller
        steps = [("temperature", 0.6), ("top_k", 6), ("top_p", 0.7), ("seed", 5), ("n", 35), ("prompt", "All:\nSp")]
        for name, value in steps:
            controls[name].value = value
            s = c.state
            assert c.text == reference(s["prompt"], s["n"], s["temperature"], s["top_k"], s["top_p"], s["seed"]), name
            assert view.message.value == ""
        shown = []
        view.message.observe(lambda change: shown.append(change["new"]), names="value")
        view.again.click()  # "new sample": the next seed; the message line says so while it samples
        assert "sampling …" in shown[0] and view.message.value == ""
        assert c.state["seed"] == 6 and controls["seed"].value == 6
        assert c.text == reference("All:\nSp", 35, 0.6, 6, 0.7, 6)
    finally:
        view.close()


@pytest.mark.parametrize("settings", SETTINGS[:4], ids=["T1", "top-k", "top-p", "top-k-and-p"])
def test_each_probability_is_the_drawn_characters_under_the_distribution_it_was_drawn_from(settings):
    prompt, n, temperature, top_k, top_p, seed = settings
    c = SamplingExplorer(MODEL, VOCAB, prompt, n, temperature, top_k, top_p, seed)
    try:
        text, start = c.text, len(prompt)
        ids = VOCAB.encode(text)
        for i in range(n):
            window = ids[max(0, start + i - BLOCK) : start + i]  # what the model read before character i
            logits = MODEL(window[None])[0, -1].detach()  # without the cache: equal up to float rounding
            drawn = int(ids[start + i])
            expected = direct_distribution(logits, temperature, top_k, top_p)
            own = direct_distribution(logits, 1.0, None, None)
            assert c.sample.ids[i] == drawn
            assert c.sample.sampling[i] == pytest.approx(expected, abs=1e-5)
            assert c.sample.model[i] == pytest.approx(own, abs=1e-5)
            assert c.sample.p_sampling[i] == pytest.approx(expected[drawn], abs=1e-5) and expected[drawn] > 0
            assert c.sample.p_model[i] == pytest.approx(own[drawn], abs=1e-5)
            assert np.array_equal(cell_colour(c, start + i), CMAP(c.sample.p_sampling[i]))  # the colour is p
        assert all(np.array_equal(cell_colour(c, k), PROMPT_COLOUR) for k in range(start))  # the prompt: neutral
        c.set(colour_by="model")  # the same text, coloured by the model's own probabilities
        assert all(np.array_equal(cell_colour(c, start + i), CMAP(c.sample.p_model[i])) for i in range(n))
        assert "model's own" in c.colour_bar.ax.get_ylabel()
    finally:
        c.close()


def test_greedy_picks_the_most_likely_character_every_time():
    c = SamplingExplorer(MODEL, VOCAB, "Be", n=40, temperature=0.0, seed=3)
    try:
        s = c.sample
        assert np.array_equal(s.ids, s.model.argmax(1))  # the model's most likely character, at every step
        assert np.all(s.p_sampling == 1.0) and np.all(s.p_model == s.model.max(1))
        assert c.text == MODEL.generate(VOCAB, "Be", 40, 0.0)  # no randomness: any seed, no generator
        c.set(seed=9)
        assert c.text == MODEL.generate(VOCAB, "Be", 40, 0.0)
        assert "greedy" in c.title.get_text() and "mean log p =   0.00" in c.stats.get_text()
    finally:
        c.close()


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_sample_with_probs_draws_what_sample_next_draws():
    g = torch.Generator().manual_seed(0)
    for temperature, top_k, top_p in itertools.product([0.0, 0.5, 1.0, 1.8], [None, 1, 4], [None, 0.3, 1.0]):
        logits = torch.randn(len(VOCAB), generator=g) * 3
        for seed in range(4):
            drawn, probs = charlm.sample_with_probs(logits, temperature, top_k, top_p, seeded(seed))
            assert drawn == charlm.sample_next(logits, temperature, top_k, top_p, seeded(seed))
            assert probs.dtype == torch.float64 and float(probs.sum()) == pytest.approx(1.0) and probs[drawn] > 0
            assert torch.equal(probs, charlm.next_distribution(logits, temperature, top_k, top_p))
            assert probs.numpy() == pytest.approx(direct_distribution(logits, temperature, top_k, top_p), abs=1e-12)


def test_the_numbers_above_the_text():
    c = SamplingExplorer(MODEL, VOCAB, "First", n=40, temperature=1.5, seed=2)
    try:
        s = c.sample
        stats = c.stats.get_text()
        for p in (s.p_sampling, s.p_model):
            assert f"mean log p = {np.log(p).mean():6.2f}" in stats
            assert f"{int((p < 0.1).sum()):3d} of 40 drawn with p < 0.1" in stats
        assert "T = 1.5" in c.title.get_text() and "seed 2" in c.title.get_text()
    finally:
        c.close()


# -- the position, the picture ---------------------------------------------------------------------------------------
def test_moving_the_position_moves_the_frame_and_the_bars_only():
    c = SamplingExplorer(MODEL, VOCAB, "All:\n", n=30, temperature=1.2, top_k=6, seed=4)
    try:
        before_png = c.png()
        sample = c.sample
        full_draws = count_full_draws(c)
        for i in (0, 7, 29):
            c.set(position=i)
            png = c.png()
            r, col = c._cells[5 + i]
            assert c.frame.get_xy() == (col - 0.5, r - 0.5)
            drawn = int(sample.ids[i])
            heights = [b.get_height() for b in c.sampling_bars]
            shown = [k for k, label in enumerate(c.bar_labels) if label.get_text()]
            top = np.sort(sample.sampling[i])[::-1][:TOP]
            assert heights[:TOP] == pytest.approx(top)  # the TOP most likely under the sampling distribution
            red = [label.get_text() for label in c.bar_labels if label.get_color() == "red"]
            assert red == [{" ": "␣", "\n": "⏎"}.get(VOCAB.chars[drawn], VOCAB.chars[drawn])]
            assert len(shown) in (TOP, TOP + 1)
            assert c.info.get_text().startswith(f"position {i}: drew")
        assert c.sample is sample  # the same sample: nothing was generated again
        assert full_draws == []  # blitted: the text grid was not drawn again
        assert png != before_png
    finally:
        c.close()


def test_the_png_fallback_changes_with_a_new_sample():
    view = sampling_explorer(MODEL, VOCAB, "First", n=30, seed=0)
    try:
        before = view._repr_mimebundle_()
        assert base64.b64decode(before["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"
        text = view.controller.text
        view.controls["seed"].value = 1
        after = view._repr_mimebundle_()
        assert view.controller.text != text
        assert after["image/png"] != before["image/png"]
        assert base64.b64decode(after["image/png"]) == view.controller.png() == view.image.value
    finally:
        view.close()


def test_a_refused_value_keeps_the_last_good_sample_and_picture():
    view = sampling_explorer(MODEL, VOCAB, "First", n=30, seed=0)
    try:
        c = view.controller
        picture, text, state = view.image.value, c.text, dict(c.state)
        for bad in ({"prompt": ""}, {"prompt": "Zebra"}, {"temperature": -1.0}, {"top_p": 0.0}, {"seed": -3}):
            assert view.update(**bad) is False
            assert "⚠" in view.message.value
            assert view.image.value == picture and c.text == text and c.state == state and c.png() == picture
        assert view.update(seed=1) and view.message.value == "" and c.text == reference("First", 30, 1.0, 0, 1.0, 1)
    finally:
        view.close()


def test_a_shorter_text_brings_the_position_along():
    view = sampling_explorer(MODEL, VOCAB, "First", n=30)
    try:
        view.controls["position"].value = 25
        view.controls["n"].value = 10
        assert view.controller.state["position"] == 9
        assert view.controls["position"].max == 9 and view.controls["position"].value == 9
        view.controls["n"].value = 40
        assert view.controls["position"].max == 39 and view.controller.state["position"] == 9
    finally:
        view.close()


def test_every_character_is_written_on_its_own_cell():
    c = SamplingExplorer(MODEL, VOCAB, "All:\nSp", n=40, temperature=1.5, seed=8)
    try:
        for i, (char, (r, col)) in enumerate(zip(c.text, c._cells)):
            black, white = (c.lines[r][ink].get_text().ljust(COLS) for ink in ("black", "white"))
            written = black[col] if black[col] != " " else white[col]  # each character is in one of the two inks
            assert written == {" ": " ", "\n": "⏎"}.get(char, char) and " " in (black[col], white[col]), i
        c.png()
        one_line = c.ax_text.text(-0.5, 0, "M" * COLS, family="monospace", fontsize=c.lines[0]["black"].get_fontsize())
        line_width = one_line.get_window_extent(c.canvas.get_renderer()).width
        one_line.remove()
        assert abs(c.ax_text.get_window_extent().width - line_width) <= 1  # a cell is one character wide (pixels)
    finally:
        c.close()


def test_wrap_breaks_lines_after_newlines_and_after_cols_characters():
    assert wrap("ab\ncd", cols=4, rows=3) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]
    assert wrap("abcdef", cols=4, rows=3) == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1)]
    assert wrap("a\n\n\nb", cols=4, rows=3) == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0)]  # too many lines: ⏎ inline
    cut = wrap("abcdefghij", cols=2, rows=3)  # too long even so: only the last 6 characters get a cell
    assert cut[:4] == [None] * 4 and cut[4:] == [(r, c) for r in range(3) for c in range(2)]


def test_a_long_sample_fits_the_grid():
    model = GPT(GPTConfig(vocab_size=len(VOCAB), block_size=64, n_layer=1, n_head=1, n_embd=8))
    c = SamplingExplorer(model, VOCAB, ("\n" * 64), n=400, seed=0)  # the most newlines a prompt can hold
    try:
        cells = [cell for cell in c._cells if cell is not None]
        assert len(cells) == len(c.text) and max(r for r, _ in cells) < ROWS and max(k for _, k in cells) < COLS
    finally:
        c.close()


# -- closing, re-running ---------------------------------------------------------------------------------------------
_requests = itertools.count()


def run_cell(cell_id: str, make):
    """Call ``make()`` as a new run of notebook cell ``cell_id`` (as tests/test_widget_memory.py does)."""
    header = {"msg_type": "execute_request", "msg_id": f"sampling-request-{next(_requests)}"}
    shell = types.SimpleNamespace(parent_header={"header": header, "metadata": {"cellId": cell_id}})
    real = IPython.get_ipython
    IPython.get_ipython = lambda: shell
    try:
        return make()
    finally:
        IPython.get_ipython = real


def test_recreating_the_widget_ten_times_leaves_no_figures_or_widgets_behind():
    make = lambda: sampling_explorer(MODEL, VOCAB, "First", n=30)  # noqa: E731
    views = [run_cell("sampling-cell", make)]  # one open widget before and after
    figures, registered = live_figures(), len(widget_registry)
    try:
        for _ in range(10):
            views.append(run_cell("sampling-cell", make))  # held, as IPython's Out holds them
        assert all(v.closed for v in views[:-1]) and not views[-1].closed
        assert live_figures() == figures
        assert len(widget_registry) == registered
        assert views[-1].update(position=3)  # the last one still works
    finally:
        for v in views:
            v.close()


# -- the attention hand-off ------------------------------------------------------------------------------------------
def test_the_attention_of_the_sampled_text_is_ready_for_the_attention_explorer():
    big = GPT(GPTConfig(vocab_size=len(VOCAB), block_size=80, n_layer=2, n_head=2, n_embd=16))
    c = SamplingExplorer(big, VOCAB, "First Citizen:\n", n=70, seed=1)
    try:
        labels_q, labels_k, w = c.attention()
        assert w.shape == (2, 2, 64, 64)  # the last 64 characters: the most the explorer draws
        assert labels_q == labels_k == list(c.text[-64:])
        assert np.allclose(w.sum(-1), 1.0) and np.all(w >= 0)
        assert np.all(np.triu(w, 1) == 0)  # causal: no character looks ahead
        _, direct = big(VOCAB.encode(c.text[-64:])[None], return_weights=True)
        assert np.allclose(w, direct[0].detach().numpy(), atol=1e-6)
        explorer = attention_explorer(labels_q, labels_k, w)
        explorer.close()
    finally:
        c.close()
    short = SamplingExplorer(MODEL, VOCAB, "All:", n=5, seed=0)  # shorter than 64, and a 16-character context
    try:
        labels, _, w = short.attention()
        assert w.shape == (2, 2, 9, 9) and "".join(labels) == short.text
        assert gpt_attention(MODEL, VOCAB, TEXT)[2].shape == (2, 2, BLOCK, BLOCK)  # at most the model's context
    finally:
        short.close()
