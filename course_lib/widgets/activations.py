"""Activation functions and their derivatives, with a point you can move along the curve (notebook 00).

The derivative is computed by autograd, the same way a network's gradients are, and the tangent line at the chosen
point ``x0`` shows what the derivative means: ``f(x) ≈ f(x0) + f'(x0) (x - x0)`` near ``x0``.
"""
from __future__ import annotations

import math

import ipywidgets as widgets
import numpy as np
import torch
import torch.nn.functional as F

from .base import FigureController, WidgetView, check_choice, check_number

ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "ReLU": torch.relu,
    "leaky ReLU": lambda x, leak: F.leaky_relu(x, leak),
    "GELU": F.gelu,
}
X_RANGE = (-5.0, 5.0)
LEAK_RANGE = (0.0, 0.5)


def activation_and_derivative(name: str, x: np.ndarray, leak: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """``f(x)`` and ``f'(x)`` (by autograd) for one of :data:`ACTIVATIONS`, at every point of ``x`` (numbers, an array
    or a tensor; the result has ``x``'s shape, float64). ``leak`` is the leaky-ReLU slope for negative inputs."""
    check_choice("name", name, ACTIVATIONS, "activation")
    check_number("leak", leak, -math.inf, math.inf)
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    try:
        values = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"x must be numbers (a float, a list, an array or a tensor), got {type(x).__name__}") from None
    t = torch.tensor(values, requires_grad=True)
    fn = ACTIVATIONS[name]
    y = fn(t, leak) if name == "leaky ReLU" else fn(t)
    (grad,) = torch.autograd.grad(y.sum(), t)
    return y.detach().numpy(), grad.numpy()


class ActivationExplorer(FigureController):
    """Left: ``f(x)`` with the point ``x0`` and its tangent. Right: ``f'(x)`` with ``f'(x0)`` marked."""

    def __init__(self, name: str = "tanh", x0: float = 1.0, leak: float = 0.1):
        super().__init__(figsize=(9, 3.4))
        self.xs = np.linspace(*X_RANGE, 401)
        self.ax_f, self.ax_df = self.fig.subplots(1, 2)
        (self.f_line,) = self.ax_f.plot([], [], lw=2)
        (self.tangent,) = self.ax_f.plot([], [], "--", color="C3", lw=1.5, label="tangent at x0")
        (self.f_point,) = self.ax_f.plot([], [], "o", color="C3", ms=7)
        (self.df_line,) = self.ax_df.plot([], [], lw=2, color="C1")
        (self.df_point,) = self.ax_df.plot([], [], "o", color="C3", ms=7)
        for ax, title in ((self.ax_f, "f(x)"), (self.ax_df, "f'(x)  (by autograd)")):
            ax.axhline(0, color="0.8", lw=0.8)
            ax.axvline(0, color="0.8", lw=0.8)
            ax.set_xlim(*X_RANGE)
            ax.set_xlabel("x")
            ax.set_title(title)
        self.ax_f.legend(loc="upper left")
        self.readout = self.fig.text(0.5, 0.01, "", ha="center", fontsize=10)
        self.fig.subplots_adjust(bottom=0.22, wspace=0.25, left=0.06, right=0.98)
        self.animate(self.tangent, self.f_point, self.df_point, self.readout)
        self._curves: dict[tuple[str, float], tuple[np.ndarray, np.ndarray]] = {}
        self.state = {"name": name, "x0": x0, "leak": leak}
        self._validate(self.state)
        self._apply()

    def _validate(self, state: dict) -> None:
        check_choice("name", state["name"], ACTIVATIONS, "activation")
        check_number("x0", state["x0"], *X_RANGE)
        check_number("leak", state["leak"], *LEAK_RANGE)

    def _apply(self) -> None:
        name, x0, leak = self.state["name"], self.state["x0"], self.state["leak"]
        key = (name, leak if name == "leaky ReLU" else 0.0)
        if key not in self._curves:
            self._curves[key] = activation_and_derivative(name, self.xs, leak)
        f, df = self._curves[key]
        (f0,), (df0,) = activation_and_derivative(name, np.array([float(x0)]), leak)
        if not np.array_equal(self.f_line.get_ydata(), f):  # a new curve: axes and title change too
            self.f_line.set_data(self.xs, f)
            self.df_line.set_data(self.xs, df)
            self.background_stale = True
        self.f_point.set_data([x0], [f0])
        self.df_point.set_data([x0], [df0])
        near = np.array([x0 - 1.5, x0 + 1.5])
        self.tangent.set_data(near, f0 + df0 * (near - x0))
        pad_f = 0.1 * (f.max() - f.min() + 1e-9)
        self.ax_f.set_ylim(f.min() - pad_f, f.max() + pad_f)
        self.ax_df.set_ylim(min(df.min(), 0) - 0.1, df.max() + 0.15)
        self.ax_f.set_title(f"{name}(x)")
        self.readout.set_text(f"x0 = {x0:+.2f}    f(x0) = {f0:+.3f}    f'(x0) = {df0:.3f}")

    @property
    def values_at_x0(self) -> tuple[float, float]:
        """``(f(x0), f'(x0))`` as drawn (for tests and exercises)."""
        return float(self.f_point.get_ydata()[0]), float(self.df_point.get_ydata()[0])


def activation_explorer(name: str = "tanh", x0: float = 1.0, leak: float = 0.1) -> WidgetView:
    """The widget: a dropdown of activations, a slider for ``x0``, a slider for the leaky-ReLU slope."""
    controller = ActivationExplorer(name, x0, leak)
    controls = {
        "name": widgets.Dropdown(options=list(ACTIVATIONS), value=name, description="activation"),
        "x0": widgets.FloatSlider(value=x0, min=X_RANGE[0], max=X_RANGE[1], step=0.1, description="x0",
                                  continuous_update=True),
        "leak": widgets.FloatSlider(value=leak, min=LEAK_RANGE[0], max=LEAK_RANGE[1], step=0.01,
                                    description="leak slope", disabled=name != "leaky ReLU"),
    }
    view = WidgetView(controller, controls)

    def enable_leak(change):  # the slope for negative inputs only matters for leaky ReLU
        controls["leak"].disabled = change["new"] != "leaky ReLU"

    controls["name"].observe(enable_leak, names="value")
    return view
