"""Draws the LSTM and GRU cell diagrams of notebooks 03 and 04 (PyTorch's conventions) as PNG files next to this
script, and stores each in its notebook as an attachment of section 1's cell, so that the picture travels with the
notebook (GitHub, the HTML export and the student edition show it without this folder).

    .venv/bin/python docs/figures/cells.py

Boxes are layers with weights (a matrix product, a bias, then the non-linearity written in the box); circles are
element-wise operations. Every arrow carries a vector of H numbers, except x_t (D numbers).
"""
import base64
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Circle, FancyBboxPatch  # noqa: E402

HERE = Path(__file__).parent
NOTEBOOKS = HERE.parent.parent / "notebooks"
GATE, CAND, CELL, OP = "#f6d8a8", "#bcd9ef", "#d9ead3", "white"


def arrow(ax, points, color="0.2", lw=1.6):
    """A polyline through ``points`` with an arrow head at the end."""
    xs, ys = zip(*points)
    ax.plot(xs[:-1] + (xs[-1],), ys[:-1] + (ys[-1],), color=color, lw=lw, solid_capstyle="round", zorder=1)
    ax.annotate("", xy=points[-1], xytext=points[-2],
                arrowprops=dict(arrowstyle="-|>", color=color, lw=lw, mutation_scale=14), zorder=2)


def box(ax, x, y, text, color, label=None, w=0.8, h=0.55):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.04", fc=color, ec="0.2",
                                lw=1.3, zorder=3))
    ax.text(x, y, text, ha="center", va="center", fontsize=13, zorder=4)
    if label:  # the gate's symbol, beside the box's top right corner
        ax.text(x + w / 2 + 0.06, y + h / 2, label, ha="left", va="bottom", fontsize=12, zorder=4)


def op(ax, x, y, text):
    ax.add_patch(Circle((x, y), 0.22, fc=OP, ec="0.2", lw=1.3, zorder=3))
    ax.text(x, y, text, ha="center", va="center", fontsize=13, zorder=4)


def top_path(ax, x_times: float, x_plus: float, color: str, left: str, right: str) -> None:
    """The additive path along the top: ``left`` -> (×) -> (+) -> ``right``, with nothing else on the way."""
    arrow(ax, [(0, 4), (x_times - 0.22, 4)], color=color, lw=2.6)
    op(ax, x_times, 4, "×")
    arrow(ax, [(x_times + 0.22, 4), (x_plus - 0.22, 4)], color=color, lw=2.6)
    op(ax, x_plus, 4, "+")
    arrow(ax, [(x_plus + 0.22, 4), (9.4, 4)], color=color, lw=2.6)
    ax.text(0, 4.18, left, fontsize=13, ha="left", va="bottom")
    ax.text(9.4, 4.18, right, fontsize=13, ha="right", va="bottom")


def finish(fig, ax, path: Path, title: str, legend: str) -> None:
    ax.text(4.7, -1.05, legend + " (boxes: weights, then σ or tanh; circles: element-wise)", fontsize=9,
            ha="center", va="top", color="0.3")
    ax.set(xlim=(-0.2, 9.6), ylim=(-1.5, 4.9), aspect="equal")
    ax.axis("off")
    ax.set_title(title, fontsize=12)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def lstm(path: Path) -> None:
    fig, ax = plt.subplots(figsize=(9, 5))
    # the cell path along the top: c_{t-1} -> (x f_t) -> (+ i_t g_t) -> c_t
    top_path(ax, 2, 4.25, "C2", "$c_{t-1}$", "$c_t$")
    # inputs: h_{t-1} from the left and x_t from below, joined into one bus feeding every gate
    arrow(ax, [(0, 0), (0.9, 0)], lw=1.6)
    ax.plot([0.9, 6.8], [0, 0], color="0.2", lw=1.6, zorder=1)
    ax.text(0, 0.12, "$h_{t-1}$", fontsize=13, ha="left", va="bottom")
    arrow(ax, [(1.2, -0.9), (1.2, -0.02)])
    ax.text(1.3, -0.85, "$x_t$", fontsize=13, ha="left", va="bottom")
    for x in (2, 3.5, 5, 6.8):
        arrow(ax, [(x, 0), (x, 0.7)])
    box(ax, 2, 1, "σ", GATE, "$f_t$")
    box(ax, 3.5, 1, "σ", GATE, "$i_t$")
    box(ax, 5, 1, "tanh", CAND, "$g_t$")
    box(ax, 6.8, 1, "σ", GATE)
    ax.text(6.34, 1.28, "$o_t$", fontsize=12, ha="right", va="bottom")  # left of the box: the right is busy
    arrow(ax, [(2, 1.3), (2, 3.78)])  # f_t scales the old cell
    op(ax, 4.25, 2.6, "×")  # i_t * g_t
    arrow(ax, [(3.5, 1.3), (3.5, 2.6), (4.03, 2.6)])
    arrow(ax, [(5, 1.3), (5, 2.6), (4.47, 2.6)])
    arrow(ax, [(4.25, 2.82), (4.25, 3.78)])
    # the output: h_t = o_t * tanh(c_t)
    arrow(ax, [(7.6, 4), (7.6, 3.45)])
    box(ax, 7.6, 3.15, "tanh", OP, w=0.7, h=0.45)
    arrow(ax, [(7.6, 2.92), (7.6, 2.42)])
    op(ax, 7.6, 2.2, "×")
    arrow(ax, [(6.8, 1.3), (6.8, 2.2), (7.38, 2.2)])
    arrow(ax, [(7.82, 2.2), (9.4, 2.2)])
    ax.text(9.4, 2.3, "$h_t$", fontsize=13, ha="right", va="bottom")
    ax.text(9.4, 1.9, "output; the next\nstep's $h_{t-1}$", fontsize=9, ha="right", va="top", color="0.3")
    ax.text(4.7, 4.55, "the cell path: only × $f_t$ and + on the way, no matrix, no squashing", fontsize=10,
            ha="center", color="C2")
    finish(fig, ax, path, "LSTM cell (drawn f, i, g, o; PyTorch stacks the gate weights i, f, g, o)",
           "$f_t$ forget gate · $i_t$ input gate · $g_t$ candidate · $o_t$ output gate")


def gru(path: Path) -> None:
    fig, ax = plt.subplots(figsize=(9, 5))
    # the state path along the top: h_{t-1} -> (x z_t) -> (+ (1 - z_t) n_t) -> h_t
    top_path(ax, 4.5, 7, "C0", "$h_{t-1}$", "$h_t$")
    # h_{t-1} also feeds the gates: down to the bus, where x_t joins
    arrow(ax, [(0.6, 4), (0.6, 0), (1.0, 0)])
    ax.plot([1.0, 7.0], [0, 0], color="0.2", lw=1.6, zorder=1)
    arrow(ax, [(1.2, -0.9), (1.2, -0.02)])
    ax.text(1.3, -0.85, "$x_t$", fontsize=13, ha="left", va="bottom")
    for x in (2.2, 3.5, 7.0):
        arrow(ax, [(x, 0), (x, 0.7)])
    box(ax, 2.2, 1, "σ", GATE, "$r_t$")
    box(ax, 3.5, 1, "σ", GATE, "$z_t$")
    box(ax, 7.0, 1, "tanh", CAND, "$n_t$")
    # r_t acts inside the candidate, on W_hn h_{t-1} + b_hn
    arrow(ax, [(2.2, 1.3), (2.2, 1.75), (5.9, 1.75), (5.9, 1.0), (6.58, 1.0)], color="C3")
    ax.text(3.62, 1.82, "$r_t \\odot (W_{hn} h_{t-1} + b_{hn})$ inside the candidate", fontsize=9, color="C3",
            ha="left", va="bottom")
    # z_t keeps the old state, 1 - z_t writes the candidate
    arrow(ax, [(3.5, 1.3), (3.5, 3.0), (4.5, 3.0), (4.5, 3.78)])
    arrow(ax, [(4.5, 3.0), (5.55, 3.0)])
    box(ax, 5.85, 3.0, "1 −", OP, w=0.55, h=0.42)
    arrow(ax, [(6.13, 3.0), (6.78, 3.0)])
    op(ax, 7, 3.0, "×")
    arrow(ax, [(7.0, 1.3), (7.0, 2.78)])
    arrow(ax, [(7.0, 3.22), (7.0, 3.78)])
    ax.text(8.0, 2.2, "$h_t = (1 - z_t) \\odot n_t$\n$\\quad + z_t \\odot h_{t-1}$", fontsize=11, ha="left",
            va="center")
    ax.text(4.7, 4.55, "the state path: only × $z_t$ and + on the way ($z_t = 1$ keeps $h_{t-1}$)", fontsize=10,
            ha="center", color="C0")
    finish(fig, ax, path, "GRU cell (PyTorch's convention: z keeps, reset after the product)",
           "$r_t$ reset gate · $z_t$ update gate · $n_t$ candidate")


def attach(notebook: Path, picture: Path, alt: str) -> None:
    """Store ``picture`` in the notebook's section-1 cell and show it just before section 2 (idempotent)."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "markdown" and "## 1 · The idea" in c.source)
    link = f"![{alt}](attachment:{picture.name})"
    if link not in cell.source:
        cell.source = cell.source.replace("\n## 2 · ", f"\n{link}\n\n## 2 · ", 1)
    cell["attachments"] = {picture.name: {"image/png": base64.b64encode(picture.read_bytes()).decode("ascii")}}
    nbformat.write(nb, notebook)


if __name__ == "__main__":
    lstm(HERE / "lstm-cell.png")
    gru(HERE / "gru-cell.png")
    attach(NOTEBOOKS / "03-lstm.ipynb", HERE / "lstm-cell.png", "The LSTM cell: gates, the cell path and the output")
    attach(NOTEBOOKS / "04-gru.ipynb", HERE / "gru-cell.png", "The GRU cell: reset and update gates, the state path")
    print("written", HERE / "lstm-cell.png", HERE / "gru-cell.png", "and stored in notebooks 03 and 04")
