"""The attention explorer over layers and heads (notebooks 06–08), without a browser: the overview grid, the selection
that swaps the big map and moves the frame, the PNG fallback, and head_summary on weights whose answer is known."""
import base64
import gc

import numpy as np
import pytest
import torch
from ipywidgets.widgets.widget import _instances as widget_registry
from matplotlib.figure import Figure

from course_lib.widgets.attention import (MAX_GRID_MAPS, AttentionMap, attention_explorer, anchor_score, check_weights, copy_score,
                                          head_summary)

T = 6
LABELS = list("abcdef")


def random_weights(layers: int, heads: int, t_q: int = T, t_k: int = T, seed: int = 0) -> np.ndarray:
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(layers, heads, t_q, t_k, generator=g) * 2, -1).numpy()


def count_full_draws(controller) -> list:
    """Count the controller's full canvas draws (the grid is drawn only in those; blitted updates do not draw it)."""
    calls = []
    draw = controller.canvas.draw
    controller.canvas.draw = lambda: (calls.append(1), draw())
    return calls


def live_figures() -> int:
    gc.collect()
    return sum(issubclass(type(o), Figure) for o in gc.get_objects())  # type(): no lazy attribute lookups


def framed_cell(controller) -> tuple[int, int]:
    """The (layer, head) whose small map lies inside the grid's red frame; exactly one must."""
    frame = controller.grid_frame.get_bbox()  # figure coordinates
    inside = [(layer, head) for layer, row in enumerate(controller.grid_axes) for head, ax in enumerate(row)
              if frame.x0 <= ax.get_position().x0 and ax.get_position().x1 <= frame.x1
              and frame.y0 <= ax.get_position().y0 and ax.get_position().y1 <= frame.y1]
    assert len(inside) == 1, inside
    return inside[0]


# -- the grid --------------------------------------------------------------------------------------------------------
def test_one_layer_one_head_has_no_grid_and_keeps_05s_figure():
    c = AttentionMap(LABELS, LABELS, random_weights(1, 1)[0, 0])
    assert c.grid_axes == [] and c.grid_frame is None
    assert tuple(c.fig.get_size_inches()) == (9.0, 5.2)
    assert len(c.fig.axes) == 3  # the map, the bars, the colour bar
    assert "layer" not in c.title.get_text()


def test_grid_has_one_small_map_per_layer_and_head():
    w = random_weights(3, 4)
    c = AttentionMap(LABELS, LABELS, w)
    assert len(c.grid_axes) == 3 and all(len(row) == 4 for row in c.grid_axes)
    assert len(c.fig.axes) == 3 + 3 * 4
    assert [ax.get_title() for ax in c.grid_axes[0]] == ["H0", "H1", "H2", "H3"]  # heads named above the top row
    assert [row[0].get_ylabel() for row in c.grid_axes] == ["L0", "L1", "L2"]  # layers named left of each row
    for layer in range(3):
        for head in range(4):  # every small map shows its whole map
            assert np.array_equal(c.grid_images[layer][head].get_array(), w[layer, head])
    width, height = c.fig.get_size_inches()
    assert width > 9.0 and height == 5.2  # the grid sits right of 05's figure
    big_map_right = c.ax_map.get_position().x1
    assert all(ax.get_position().x0 > big_map_right for row in c.grid_axes for ax in row)
    assert framed_cell(c) == (0, 0)


def test_many_layers_make_the_figure_taller_not_thinner():
    c = AttentionMap(LABELS, LABELS, random_weights(16, 2))
    width, height = c.fig.get_size_inches()
    cell = c.grid_axes[0][0].get_position().height * height  # inches
    assert height > 5.2 and cell > 0.3


def test_selecting_a_layer_and_head_swaps_the_big_map_and_moves_the_frame_only():
    w = random_weights(3, 4)
    c = AttentionMap(LABELS, LABELS, w, step=2)
    c.png()
    grid_before = [[image.get_array().copy() for image in row] for row in c.grid_images]
    full_draws = count_full_draws(c)
    for layer, head in [(2, 1), (0, 3), (1, 0)]:
        c.set(layer=layer, head=head)
        c.png()
        assert np.array_equal(c.image.get_array(), w[layer, head])
        assert framed_cell(c) == (layer, head)
        assert [b.get_height() for b in c.bars] == pytest.approx(w[layer, head, 2])
        assert f"layer {layer}, head {head}" in c.title.get_text()
    assert full_draws == []  # blitted: the grid, the labels and the axes were not drawn again
    assert all(np.array_equal(image.get_array(), before)
               for row, rows_before in zip(c.grid_images, grid_before) for image, before in zip(row, rows_before))
    c.set(step=4)  # the step keeps the selected head
    assert np.array_equal(c.image.get_array(), w[1, 0]) and framed_cell(c) == (1, 0)


def test_a_refused_head_keeps_the_selection():
    c = AttentionMap(LABELS, LABELS, random_weights(2, 3), layer=1, head=2)
    with pytest.raises(ValueError, match=r"head must be in \[0, 2\]"):
        c.set(head=3)
    assert (c.state["layer"], c.state["head"]) == (1, 2) and framed_cell(c) == (1, 2)
    c.set(head=0)
    assert framed_cell(c) == (1, 0)


def test_reveal_hides_the_same_rows_in_every_small_map():
    c = AttentionMap(LABELS, LABELS, random_weights(2, 2), reveal=True, step=2)
    assert len(c.grid_covers) == 4
    assert all(cover.get_y() == 2.5 and cover.get_height() == T - 3 and cover.get_width() == T
               for cover in c.grid_covers)
    assert c.image.get_array().mask[3:].all() and not c.image.get_array().mask[:3].any()
    c.set(step=T - 1)  # the last step: everything shown
    assert all(cover.get_height() == 0 for cover in c.grid_covers)
    assert AttentionMap(LABELS, LABELS, random_weights(2, 2)).grid_covers == []  # without reveal: full maps


def test_view_has_layer_and_head_dropdowns_and_its_png_follows_them():
    w = random_weights(2, 3)
    view = attention_explorer(LABELS, LABELS, w)
    try:
        c = view.controller
        before = view._repr_mimebundle_()
        view.controls["layer"].value = 1
        view.controls["head"].value = 2
        assert (c.state["layer"], c.state["head"]) == (1, 2) and framed_cell(c) == (1, 2)
        assert np.array_equal(c.image.get_array(), w[1, 2])
        after = view._repr_mimebundle_()
        assert after["image/png"] != before["image/png"]  # the static fallback shows the new selection
        assert base64.b64decode(after["image/png"]) == c.png() == view.image.value
        assert view.update(head=5) is False and "head must be in [0, 2]" in view.message.value
        assert view.image.value == c.png()  # the last good picture kept
    finally:
        view.close()


def test_a_new_text_redraws_the_grid_with_the_new_maps():
    def compute(text):
        return list(text), list(text), random_weights(2, 2, len(text), len(text), seed=len(text))

    view = attention_explorer(*compute("abc"), compute=compute, text="abc")
    try:
        c = view.controller
        view.controls["head"].value = 1
        view.controls["text"].value = "hello!!"
        assert c.state["step"] == 0 and view.controls["step"].max == 6
        new = compute("hello!!")[2]
        assert all(np.array_equal(c.grid_images[layer][head].get_array(), new[layer, head])
                   for layer in range(2) for head in range(2))
        assert np.array_equal(c.image.get_array(), new[0, 1]) and framed_cell(c) == (0, 1)
    finally:
        view.close()


def test_grid_size_limit():
    check_weights(list("ab"), list("ab"), np.full((6, 12, 2, 2), 0.5))  # 72 maps (MiniLM, 08): the limit, accepted
    with pytest.raises(ValueError, match=f"at most {MAX_GRID_MAPS} maps"):
        check_weights(list("ab"), list("ab"), np.full((10, 8, 2, 2), 0.5))
    with pytest.raises(ValueError, match=r"weights\[:4\]"):  # the message says how to pass a part
        AttentionMap(list("ab"), list("ab"), np.full((1, 17, 2, 2), 0.5))


def test_closing_explorers_with_a_grid_releases_their_figures_and_widgets():
    w = random_weights(2, 3)
    attention_explorer(LABELS, LABELS, w, reveal=True).close()  # one-time caches fill here
    figures = live_figures()
    registered = len(widget_registry)
    for _ in range(5):
        view = attention_explorer(LABELS, LABELS, w, reveal=True)
        view.controls["layer"].value = 1
        view.close()
    assert live_figures() == figures
    assert len(widget_registry) == registered


# -- head_summary ----------------------------------------------------------------------------------------------------
def known_heads(t: int = T) -> np.ndarray:
    """Four heads whose behaviour is known: previous position, same position, uniform, causal uniform."""
    previous = np.eye(t, k=-1)
    previous[0, 0] = 1.0  # query 0 has no previous position: it looks at itself
    same = np.eye(t)
    uniform = np.full((t, t), 1.0 / t)
    causal = np.tril(np.ones((t, t)))
    causal /= causal.sum(1, keepdims=True)  # row t: 1 / (t + 1) on keys 0..t
    return np.stack([np.stack([previous, same]), np.stack([uniform, causal])])  # (2 layers, 2 heads, t, t)


def test_head_summary_on_known_heads():
    s = head_summary(known_heads())
    assert set(s) == {"previous", "same", "entropy"} and all(v.shape == (2, 2) for v in s.values())
    rows = np.arange(1, T)  # the queries averaged over
    assert s["previous"] == pytest.approx(np.array([[1, 0], [1 / T, np.mean(1 / (rows + 1))]]))
    assert s["same"] == pytest.approx(np.array([[0, 1], [1 / T, np.mean(1 / (rows + 1))]]))
    assert s["entropy"] == pytest.approx(np.array([[0, 0], [np.log(T), np.mean(np.log(rows + 1))]]))
    best = np.unravel_index(s["previous"].argmax(), s["previous"].shape)
    assert best == (0, 0)  # the docstring's recipe finds the previous-position head


def test_head_summary_takes_a_tensor_or_one_map():
    w = known_heads()
    from_tensor = head_summary(torch.tensor(w))
    one_map = head_summary(w[1, 0])
    assert from_tensor["entropy"] == pytest.approx(head_summary(w)["entropy"])
    assert one_map["previous"].shape == (1, 1) and one_map["entropy"][0, 0] == pytest.approx(np.log(T))


def test_head_summary_of_a_causal_model_ignores_query_zero():
    w = known_heads()[1, 1]  # causal uniform: query 0 must look at itself (weight 1)
    assert head_summary(w)["same"][0, 0] < 0.5  # it would be pulled up if query 0 counted


def test_copy_score_finds_the_head_that_copies():
    tokens = list("abcxyabz")  # "ab" at 0-1 and again at 5-6: query 6 ("b") should look at key 2 ("c")
    T = len(tokens)
    causal = np.tril(np.ones((T, T)))
    uniform = causal / causal.sum(-1, keepdims=True)  # head 0: spreads evenly
    copier = np.eye(T)  # head 1: its own position, except where there is something to copy
    copier[6] = 0
    copier[6, 2] = 1.0
    score = copy_score(np.stack([uniform, copier])[None], tokens)
    assert score["queries"] == 1  # only query 6 has an earlier occurrence of its pair
    assert score["copy"].shape == (1, 2)
    assert score["copy"][0, 1] == pytest.approx(1.0)
    assert score["copy"][0, 0] == pytest.approx(score["uniform"]) == pytest.approx(1 / 7)
    with pytest.raises(ValueError, match="nothing to copy"):
        copy_score(uniform[:5, :5], list("abcde"))
    with pytest.raises(ValueError, match="tokens has 3 entries"):
        copy_score(uniform, list("abc"))
    with pytest.raises(ValueError, match="self-attention"):
        copy_score(np.ones((2, 3)) / 3, list("ab"))


def test_anchor_score_finds_the_head_that_looks_back_at_the_line_start():
    tokens = list("ab\ncd ef")  # line break at 2, space at 5
    T = len(tokens)
    causal = np.tril(np.ones((T, T)))
    uniform = causal / causal.sum(-1, keepdims=True)
    looker = np.eye(T)
    for t in range(3, T):  # every query after the line break looks at it
        looker[t] = 0
        looker[t, 2] = 1.0
    line = anchor_score(np.stack([uniform, looker])[None], tokens, "\n")
    assert line["queries"] == T - 3 and line["anchor"][0, 1] == pytest.approx(1.0)
    assert line["anchor"][0, 0] == pytest.approx(line["uniform"])
    word = anchor_score(looker, tokens, " \n")  # after the space (queries 6, 7) the target moves to 5
    assert word["anchor"][0, 0] == pytest.approx(3 / 5)
    within_line = anchor_score(looker, tokens, " ", reset="\n")  # only queries 6, 7 have a space before them
    assert within_line["queries"] == 2 and within_line["anchor"][0, 0] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="no query has an anchor"):
        anchor_score(uniform, list("abcdefgh"), "\n")
    with pytest.raises(ValueError, match="anchors is empty"):
        anchor_score(uniform, tokens, "")
