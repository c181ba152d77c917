"""Recurrent networks from scratch (notebooks 02-04): RNN, LSTM and GRU, and a character language model.

Every module is batch-first and loops over the time steps with the equations written out. The equations are for
column vectors, and the weights are stored in that orientation, which is also PyTorch's (``W_xh (H, D_in)``); code on
batch rows therefore reads ``x_t @ W_xh.T``. Shapes: ``x (B, T, D_in)``, ``h_t, c_t (B, H)``.

    RNN:   h_t = tanh(W_xh x_t + b_xh + W_hh h_{t-1} + b_hh)

    LSTM:  i_t = σ(W_xi x_t + b_xi + W_hi h_{t-1} + b_hi)        input gate
           f_t = σ(W_xf x_t + b_xf + W_hf h_{t-1} + b_hf)        forget gate
           g_t = tanh(W_xg x_t + b_xg + W_hg h_{t-1} + b_hg)     candidate cell input (a value, not a gate)
           o_t = σ(W_xo x_t + b_xo + W_ho h_{t-1} + b_ho)        output gate
           c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
           h_t = o_t ⊙ tanh(c_t)

    GRU:   r_t = σ(W_xr x_t + b_xr + W_hr h_{t-1} + b_hr)        reset gate
           z_t = σ(W_xz x_t + b_xz + W_hz h_{t-1} + b_hz)        update gate
           n_t = tanh(W_xn x_t + b_xn + r_t ⊙ (W_hn h_{t-1} + b_hn))   candidate
           h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

Each layer keeps one named parameter per matrix and both of PyTorch's biases (GRU's ``b_hn`` sits inside
``r_t ⊙ (...)``, so the two biases cannot be merged). ``from_torch`` / ``to_torch`` map to and from PyTorch's packed
layout, where ``weight_ih_l{k}`` stacks the gates' rows as ``[i, f, g, o]`` (LSTM) or ``[r, z, n]`` (GRU).

Modules return what PyTorch returns: ``outputs (B, T, H)`` and ``h_n (num_layers, B, H)``, or ``(h_n, c_n)`` for the
LSTM; with ``return_gates=True`` also a dict of ``(B, T, H)`` tensors for the top layer.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from . import charlm
from .charlm import lm_loss  # noqa: F401  (shared by every char model; 02-04 call it rnn.lm_loss)
from .mlp import MAX_PARAMETERS, _check_budget
from .mlp import _check_size as _check_count
from .train import eval_mode

State = tuple[torch.Tensor, ...]  # one layer's state: (h,) or (h, c), each (B, H)

# The largest model the constructors build is mlp.MAX_PARAMETERS, the course's one size limit (250 million parameters,
# 1 GB in float32): ``LSTM(10, 20000)`` would need 1.6 billion (6.4 GB), so it is refused before any memory is taken.
#: The most characters :meth:`CharLM.generate` samples in one call: at about a millisecond a character, well over a
#: minute for a small model. ``n=10**9`` would run for days.
MAX_GENERATE = 100_000


def _stack_parameters(gates: int, input_size: int, hidden_size: int, num_layers: int) -> int:
    """Parameters of a recurrent stack: per layer and gate ``W_x (H, D_in)``, ``W_h (H, H)`` and two biases."""
    first = gates * (hidden_size * input_size + hidden_size * hidden_size + 2 * hidden_size)
    rest = gates * (2 * hidden_size * hidden_size + 2 * hidden_size)
    return first + (num_layers - 1) * rest


# ----------------------------------------------------------------------------------------------------------------------
# One layer: the parameters of the equations and the loop over time
# ----------------------------------------------------------------------------------------------------------------------

class _Layer(nn.Module):
    """One recurrent layer. For each gate ``g`` in ``GATES`` it holds ``W_xg (H, D_in)``, ``W_hg (H, H)``,
    ``b_xg (H,)`` and ``b_hg (H,)``, initialised like PyTorch: uniform in ``[-1/sqrt(H), 1/sqrt(H)]``."""

    GATES: tuple[str, ...] = ()

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        input_size, hidden_size = _check_count("input_size", input_size), _check_count("hidden_size", hidden_size)
        _check_budget(_stack_parameters(len(self.GATES), input_size, hidden_size, 1), f"this {type(self).__name__}")
        self.input_size, self.hidden_size = input_size, hidden_size
        for g in self.GATES:  # e.g. LSTM: W_xi, W_hi, b_xi, b_hi, W_xf, ...
            self.register_parameter(f"W_x{g}", nn.Parameter(torch.empty(hidden_size, input_size)))
            self.register_parameter(f"W_h{g}", nn.Parameter(torch.empty(hidden_size, hidden_size)))
            self.register_parameter(f"b_x{g}", nn.Parameter(torch.empty(hidden_size)))
            self.register_parameter(f"b_h{g}", nn.Parameter(torch.empty(hidden_size)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def stacked(self, kind: str) -> torch.Tensor:
        """The parameters of one kind (``"W_x"``, ``"W_h"``, ``"b_x"``, ``"b_h"``) for all gates, stacked in
        ``GATES`` order, which is PyTorch's: ``W_x`` -> ``(G·H, D_in)``, ``b_h`` -> ``(G·H,)``. Differentiable."""
        return torch.cat([getattr(self, f"{kind}{g}") for g in self.GATES], dim=0)

    def forward(self, x: torch.Tensor, state: State, record: bool = False):
        """``x (B, T, D_in)``, ``state`` ``(h_0,)`` or ``(h_0, c_0)`` -> ``outputs (B, T, H)``, final state, gates.

        ``gates`` is a dict of ``(B, T, H)`` tensors when ``record`` is true, else ``None``.
        """
        raise NotImplementedError

    N_STATES = 1  # (h,); the LSTM layer has (h, c)

    def _check(self, x, state) -> None:
        """One layer's inputs: ``x (B, T, D_in)`` and a tuple of ``N_STATES`` tensors ``(B, H)`` (not ``(1, B, H)``:
        that is the stack's form)."""
        if not isinstance(x, torch.Tensor) or x.ndim != 3 or x.shape[-1] != self.input_size or x.shape[1] == 0:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must be a tensor (B, T, D_in) with T >= 1 and D_in={self.input_size}, got {got}")
        weight = getattr(self, f"W_x{self.GATES[0]}")  # (H, D_in)
        if x.dtype != weight.dtype or x.device != weight.device:
            raise TypeError(f"x is {x.dtype} on {x.device} but the parameters are {weight.dtype} on {weight.device}: "
                            f"convert x with x.to({weight.dtype})")
        names = ("h", "c")[: self.N_STATES]
        form = "(h,)" if self.N_STATES == 1 else "(h, c)"
        expected = (x.shape[0], self.hidden_size)
        if not isinstance(state, (tuple, list)) or len(state) != self.N_STATES:
            count = f" of {len(state)}" if isinstance(state, (tuple, list)) else ""
            raise ValueError(f"state must be a tuple {form} of tensors of shape (B, H) = {expected}, got "
                             f"{type(state).__name__}{count}")
        for name, s in zip(names, state):
            if not isinstance(s, torch.Tensor) or tuple(s.shape) != expected:
                got = tuple(s.shape) if isinstance(s, torch.Tensor) else type(s).__name__
                raise ValueError(f"state {name} must have shape (B, H) = {expected}, got {got}")
            if s.dtype != x.dtype or s.device != x.device:
                raise TypeError(f"state {name} is {s.dtype} on {s.device}, x is {x.dtype} on {x.device}: "
                                "they must match")

    # Speed, shared by the three layers. The readable version computes every gate from its own two matrices at every
    # step. We compute exactly the same numbers faster:
    #   1. the per-gate matrices are concatenated once per call (outside the time loop), so one matrix product gives
    #      all the gates of a step;
    #   2. the input part ``W_x x_t + b_x`` does not depend on h, so it is computed for all T steps in one big matrix
    #      product before the loop; only ``W_h h_{t-1}`` has to wait for the previous step.
    # The parameters themselves stay one per matrix: ``torch.cat`` is differentiable, so their gradients are exact.
    def _input_projection(self, x: torch.Tensor, bias: torch.Tensor) -> list[torch.Tensor]:
        """``W_x x_t + bias`` for every step at once: a list of T tensors ``(B, G·H)``."""
        x_proj = F.linear(x, self.stacked("W_x"), bias)  # (B, T, G·H)
        return list(x_proj.unbind(dim=1))  # T × (B, G·H)


def _stack_steps(outputs: list[torch.Tensor], gates: dict[str, list[torch.Tensor]] | None):
    """Per-step lists -> ``outputs (B, T, H)`` and, when gates were recorded, a dict of ``(B, T, H)`` tensors with the
    hidden states added as ``"h"``."""
    out = torch.stack(outputs, dim=1)  # (B, T, H)
    if gates is None:
        return out, None
    recorded = {k: torch.stack(v, dim=1) for k, v in gates.items()}  # (B, T, H) each
    recorded["h"] = out
    return out, recorded


class RNNLayer(_Layer):
    """Elman RNN layer: ``h_t = tanh(W_xh x_t + b_xh + W_hh h_{t-1} + b_hh)``."""

    GATES = ("h",)

    def forward(self, x, state, record=False):
        self._check(x, state)
        (h,) = state  # (B, H)
        x_proj = self._input_projection(x, self.b_xh + self.b_hh)  # T × (B, H): W_xh x_t + b_xh + b_hh
        W_hh_T = self.W_hh.T  # (H, H)
        outputs = []
        for x_t in x_proj:
            h = torch.tanh(torch.addmm(x_t, h, W_hh_T))  # (B, H): x_t + h_{t-1} W_hhᵀ
            outputs.append(h)
        out = torch.stack(outputs, dim=1)  # (B, T, H)
        return out, (h,), ({"h": out} if record else None)


class LSTMLayer(_Layer):
    """LSTM layer (Hochreiter & Schmidhuber, 1997, with the forget gate of Gers et al., 2000)::

        i_t = σ(W_xi x_t + b_xi + W_hi h_{t-1} + b_hi)
        f_t = σ(W_xf x_t + b_xf + W_hf h_{t-1} + b_hf)
        g_t = tanh(W_xg x_t + b_xg + W_hg h_{t-1} + b_hg)
        o_t = σ(W_xo x_t + b_xo + W_ho h_{t-1} + b_ho)
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        h_t = o_t ⊙ tanh(c_t)
    """

    GATES = ("i", "f", "g", "o")
    N_STATES = 2

    def forward(self, x, state, record=False):
        self._check(x, state)
        h, c = state  # (B, H) each
        # Both biases are plain additions in every gate, so they join the precomputed input part.
        x_proj = self._input_projection(x, self.stacked("b_x") + self.stacked("b_h"))  # T × (B, 4H)
        W_h_T = self.stacked("W_h").T  # (H, 4H): [W_hi; W_hf; W_hg; W_ho]ᵀ
        outputs, gates = [], {k: [] for k in ("i", "f", "g", "o", "c")}
        for x_t in x_proj:
            a = torch.addmm(x_t, h, W_h_T)  # (B, 4H): pre-activations of all four gates
            i, f, g, o = a.chunk(4, dim=1)  # (B, H) each
            i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
            c = f * c + i * g
            h = o * torch.tanh(c)
            outputs.append(h)
            if record:
                for k, v in zip(("i", "f", "g", "o", "c"), (i, f, g, o, c)):
                    gates[k].append(v)
        out, recorded = _stack_steps(outputs, gates if record else None)
        return out, (h, c), recorded


class GRULayer(_Layer):
    """GRU layer (Cho et al., 2014), in PyTorch's convention::

        r_t = σ(W_xr x_t + b_xr + W_hr h_{t-1} + b_hr)
        z_t = σ(W_xz x_t + b_xz + W_hz h_{t-1} + b_hz)
        n_t = tanh(W_xn x_t + b_xn + r_t ⊙ (W_hn h_{t-1} + b_hn))
        h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

    This is also Cho et al.'s original form. Some texts (Chung et al., 2014, and many tutorials) swap the roles:
    ``h_t = z_t ⊙ n_t + (1 - z_t) ⊙ h_{t-1}``. Both learn the same functions; only the meaning of ``z`` flips (here
    ``z ≈ 1`` keeps the old state).
    """

    GATES = ("r", "z", "n")

    def forward(self, x, state, record=False):
        self._check(x, state)
        (h,) = state  # (B, H)
        H = self.hidden_size
        x_proj = self._input_projection(x, self.stacked("b_x"))  # T × (B, 3H): W_x x_t + b_x
        W_h_T, b_h = self.stacked("W_h").T, self.stacked("b_h")  # (H, 3H), (3H,)
        outputs, gates = [], {k: [] for k in ("r", "z", "n")}
        for x_t in x_proj:
            h_proj = torch.addmm(b_h, h, W_h_T)  # (B, 3H): W_h h_{t-1} + b_h, kept apart for the reset gate
            r, z = torch.sigmoid(x_t[:, : 2 * H] + h_proj[:, : 2 * H]).chunk(2, dim=1)  # (B, H) each
            n = torch.tanh(x_t[:, 2 * H :] + r * h_proj[:, 2 * H :])  # (B, H)
            h = torch.lerp(n, h, z)  # (1 - z) ⊙ n + z ⊙ h_{t-1}, written n + z ⊙ (h_{t-1} - n)
            outputs.append(h)
            if record:
                for k, v in zip(("r", "z", "n"), (r, z, n)):
                    gates[k].append(v)
        out, recorded = _stack_steps(outputs, gates if record else None)
        return out, (h,), recorded


# ----------------------------------------------------------------------------------------------------------------------
# A stack of layers with PyTorch's interface
# ----------------------------------------------------------------------------------------------------------------------

class _Recurrent(nn.Module):
    """A stack of ``num_layers`` layers; layer l+1 reads the outputs of layer l. Batch-first.

    Sizes are integers >= 1, and a stack of more than :data:`MAX_PARAMETERS` parameters is refused before any memory
    is taken (``LSTM(10, 20000)`` would need 6.4 GB).
    """

    layer_cls: type[_Layer] = _Layer
    torch_cls: type[nn.RNNBase] = nn.RNNBase
    has_cell = False  # True for the LSTM, whose state is (h, c)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1):
        super().__init__()
        input_size, hidden_size, num_layers = (_check_count(name, value) for name, value in (
            ("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)))
        _check_budget(_stack_parameters(len(self.layer_cls.GATES), input_size, hidden_size, num_layers),
                      f"this {type(self).__name__}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.layers = nn.ModuleList(
            self.layer_cls(input_size if l == 0 else hidden_size, hidden_size) for l in range(num_layers))

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, batch_first=True"

    # --- inputs -------------------------------------------------------------------------------------------------------
    def _check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor of shape (B, T, D_in), got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(
                f"x must be a floating-point tensor (B, T, D_in={self.input_size}), got dtype {x.dtype}. "
                "Token ids must go through an nn.Embedding first; other numbers can be converted with x.float().")
        if x.ndim != 3:
            hint = " (a single sequence: use x.unsqueeze(0))" if x.ndim == 2 else ""
            raise ValueError(f"x must have shape (B, T, D_in) with D_in={self.input_size}, "
                             f"got shape {tuple(x.shape)}{hint}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"x must have shape (B, T, D_in) with D_in={self.input_size}, "
                             f"got shape {tuple(x.shape)} ({x.shape[-1]} features)")
        if x.shape[1] == 0:
            raise ValueError(f"x has no time steps (T = 0, shape {tuple(x.shape)}): a sequence needs T >= 1")
        weight = next(self.parameters())
        dtype = weight.dtype
        if x.dtype != dtype:
            raise TypeError(f"x has dtype {x.dtype} but the parameters are {dtype}: "
                            f"convert one of them (x.to({dtype}) or model.to({x.dtype}))")
        if x.device != weight.device:
            raise ValueError(f"x is on {x.device} but the model is on {weight.device}: move it with "
                             f"x.to({str(weight.device)!r})")

    def _initial_state(self, x: torch.Tensor, state) -> tuple[torch.Tensor, ...]:
        """``state`` in PyTorch's form -> a tuple of ``(num_layers, B, H)`` tensors (zeros for ``None``)."""
        expected = (self.num_layers, x.shape[0], self.hidden_size)
        n = 2 if self.has_cell else 1
        if state is None:
            return tuple(x.new_zeros(expected) for _ in range(n))
        if self.has_cell:
            if not (isinstance(state, (tuple, list)) and len(state) == 2):
                got = f"a tensor of shape {tuple(state.shape)}" if isinstance(state, torch.Tensor) else repr(type(state))
                raise ValueError(f"state must be a pair (h_0, c_0), each of shape {expected}, got {got}")
            parts, names = tuple(state), ("h_0", "c_0")
        else:
            parts, names = (state,), ("h_0",)
        for name, s in zip(names, parts):
            if not isinstance(s, torch.Tensor):
                raise TypeError(f"state {name} must be a tensor of shape {expected}, got {type(s).__name__}")
            if tuple(s.shape) != expected:
                raise ValueError(f"state {name} must have shape (num_layers, B, H) = {expected}, "
                                 f"got {tuple(s.shape)}")
            if s.dtype != x.dtype:
                raise TypeError(f"state {name} has dtype {s.dtype}, x has {x.dtype}: they must match")
            if s.device != x.device:
                raise ValueError(f"state {name} is on {s.device}, x is on {x.device}: move it with "
                                 f"{name}.to({str(x.device)!r})")
        return parts

    # --- forward ------------------------------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, state=None, return_gates: bool = False):
        """``x (B, T, D_in)`` -> ``outputs (B, T, H)``, ``final_state`` (PyTorch's form) [, ``gates`` of the top layer].

        ``state``: ``h_0 (num_layers, B, H)`` (RNN, GRU) or ``(h_0, c_0)`` (LSTM); ``None`` means zeros.
        """
        self._check_input(x)
        initial = self._initial_state(x, state)  # each (L, B, H)
        finals: list[State] = []
        gates = None
        out = x
        for l, layer in enumerate(self.layers):
            record = return_gates and l == self.num_layers - 1
            out, final, gates = layer(out, tuple(s[l] for s in initial), record)  # out: (B, T, H)
            finals.append(final)
        stacked = tuple(torch.stack(parts, dim=0) for parts in zip(*finals))  # each (L, B, H)
        final_state = stacked if self.has_cell else stacked[0]
        return (out, final_state, gates) if return_gates else (out, final_state)

    # --- PyTorch's packed layout --------------------------------------------------------------------------------------
    def packed_parameters(self) -> dict[str, torch.Tensor]:
        """Our parameters in PyTorch's layout: ``{"weight_ih_l0": (G·H, D_in), "weight_hh_l0": (G·H, H),
        "bias_ih_l0": (G·H,), "bias_hh_l0": (G·H,), ...}``. Differentiable (built with ``torch.cat``)."""
        packed = {}
        for k, layer in enumerate(self.layers):
            for ours, theirs in (("W_x", "weight_ih"), ("W_h", "weight_hh"), ("b_x", "bias_ih"), ("b_h", "bias_hh")):
                packed[f"{theirs}_l{k}"] = layer.stacked(ours)
        return packed

    @classmethod
    def _refuse_options(cls, module: nn.RNNBase) -> None:
        """Raise a ValueError naming each option of ``module`` we do not implement."""
        if not module.batch_first:
            raise ValueError(f"batch_first=False is not supported: our {cls.__name__} is batch-first; "
                             f"build the PyTorch module with batch_first=True")
        if module.bidirectional:
            raise ValueError(f"bidirectional=True is not supported by our {cls.__name__}")
        if not module.bias:
            raise ValueError(f"bias=False is not supported: our {cls.__name__} always has both biases")
        if module.dropout > 0 and module.num_layers > 1:
            raise ValueError(f"dropout={module.dropout} between layers is not supported by our {cls.__name__}; "
                             "use dropout=0")

    @classmethod
    def from_torch(cls, module: nn.RNNBase):
        """Our module with exactly the numbers (and dtype, device) of a PyTorch ``nn.RNN``/``nn.LSTM``/``nn.GRU``.

        PyTorch packs the gates' rows in ``weight_ih_l{k}``: ``[i, f, g, o]`` (LSTM), ``[r, z, n]`` (GRU).
        """
        if not isinstance(module, cls.torch_cls):
            raise TypeError(f"{cls.__name__}.from_torch needs an nn.{cls.torch_cls.__name__}, "
                            f"got {type(module).__name__}")
        cls._refuse_options(module)
        weight = module.weight_ih_l0
        ours = cls(module.input_size, module.hidden_size, module.num_layers).to(device=weight.device,
                                                                                 dtype=weight.dtype)
        with torch.no_grad():
            for k, layer in enumerate(ours.layers):
                for kind, theirs in (("W_x", "weight_ih"), ("W_h", "weight_hh"), ("b_x", "bias_ih"),
                                     ("b_h", "bias_hh")):
                    packed = getattr(module, f"{theirs}_l{k}")  # (G·H, ...)
                    for g, rows in zip(layer.GATES, packed.chunk(len(layer.GATES), dim=0)):
                        getattr(layer, f"{kind}{g}").copy_(rows)
        return ours

    def to_torch(self) -> nn.RNNBase:
        """The equivalent PyTorch module (``batch_first=True``) with the same numbers, dtype and device (a copy)."""
        weight = self.layers[0].stacked("W_x")
        module = self.torch_cls(self.input_size, self.hidden_size, num_layers=self.num_layers, batch_first=True,
                                device=weight.device, dtype=weight.dtype)
        with torch.no_grad():
            for name, value in self.packed_parameters().items():
                getattr(module, name).copy_(value)
        return module


class RNN(_Recurrent):
    """Elman RNN from scratch, batch-first: ``h_t = tanh(W_xh x_t + b_xh + W_hh h_{t-1} + b_hh)``.

    ``RNN(input_size, hidden_size, num_layers=1)``; ``forward(x (B, T, D_in), h_0=None)`` ->
    ``outputs (B, T, H), h_n (num_layers, B, H)``. Parameters per layer: ``layers[l].W_xh (H, D_in)``,
    ``W_hh (H, H)``, ``b_xh (H,)``, ``b_hh (H,)``. With ``return_gates=True``: ``{"h": (B, T, H)}``.
    """

    layer_cls = RNNLayer
    torch_cls = nn.RNN

    @classmethod
    def _refuse_options(cls, module):
        super()._refuse_options(module)
        if module.nonlinearity != "tanh":
            raise ValueError(f"nonlinearity={module.nonlinearity!r} is not supported: our RNN uses 'tanh'")


class LSTM(_Recurrent):
    """LSTM from scratch, batch-first (equations in :class:`LSTMLayer`; ``g_t`` is the candidate cell input).

    ``LSTM(input_size, hidden_size, num_layers=1)``; ``forward(x (B, T, D_in), (h_0, c_0)=None)`` ->
    ``outputs (B, T, H), (h_n, c_n)`` each ``(num_layers, B, H)``. Parameters per layer and gate ``g`` in
    ``i, f, g, o``: ``W_xg (H, D_in)``, ``W_hg (H, H)``, ``b_xg (H,)``, ``b_hg (H,)``.
    With ``return_gates=True``: ``{"i", "f", "g", "o", "c", "h"}``, each ``(B, T, H)``, for the top layer.
    """

    layer_cls = LSTMLayer
    torch_cls = nn.LSTM
    has_cell = True

    @classmethod
    def _refuse_options(cls, module):
        super()._refuse_options(module)
        if module.proj_size > 0:
            raise ValueError(f"proj_size={module.proj_size} (LSTM with projections) is not supported: use proj_size=0")


class GRU(_Recurrent):
    """GRU from scratch, batch-first, PyTorch's convention ``h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}``
    (equations in :class:`GRULayer`; some texts swap ``z_t`` and ``1 - z_t``).

    ``GRU(input_size, hidden_size, num_layers=1)``; ``forward(x (B, T, D_in), h_0=None)`` ->
    ``outputs (B, T, H), h_n (num_layers, B, H)``. Parameters per layer and gate ``g`` in ``r, z, n``:
    ``W_xg (H, D_in)``, ``W_hg (H, H)``, ``b_xg (H,)``, ``b_hg (H,)``.
    With ``return_gates=True``: ``{"r", "z", "n", "h"}``, each ``(B, T, H)``, for the top layer.
    """

    layer_cls = GRULayer
    torch_cls = nn.GRU


# ----------------------------------------------------------------------------------------------------------------------
# Character language model
# ----------------------------------------------------------------------------------------------------------------------

CELLS = {"rnn": (RNN, nn.RNN), "lstm": (LSTM, nn.LSTM), "gru": (GRU, nn.GRU)}


@dataclass
class CharLMConfig:
    """``reference=True`` uses PyTorch's ``nn.RNN``/``nn.LSTM``/``nn.GRU`` instead of ours (to compare speed)."""

    vocab_size: int
    cell: str = "lstm"  # "rnn", "lstm" or "gru"
    emb: int = 64
    hidden: int = 512
    num_layers: int = 1
    dropout: float = 0.0  # on the recurrent outputs, before the output layer
    reference: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.cell, str) or self.cell not in CELLS:
            raise ValueError(f"cell must be one of {tuple(CELLS)}, got {self.cell!r}")
        for name in ("vocab_size", "emb", "hidden", "num_layers"):
            setattr(self, name, _check_count(name, getattr(self, name)))
        if (isinstance(self.dropout, bool) or not isinstance(self.dropout, numbers.Real)
                or not 0.0 <= self.dropout < 1.0):
            raise ValueError(f"dropout must be a number in [0, 1), got {self.dropout!r}")
        gates = len(CELLS[self.cell][0].layer_cls.GATES)
        total = (self.vocab_size * self.emb + _stack_parameters(gates, self.emb, self.hidden, self.num_layers)
                 + self.hidden * self.vocab_size + self.vocab_size)
        _check_budget(total, f"this CharLM (vocab_size={self.vocab_size}, emb={self.emb}, hidden={self.hidden}, "
                             f"num_layers={self.num_layers})")


class CharLM(nn.Module):
    """Character language model: ids ``(B, T)`` -> embedding ``(B, T, emb)`` -> recurrent stack ``(B, T, H)``
    -> dropout -> linear -> logits ``(B, T, V)`` for the next character at every position.

    ``CharLM(CharLMConfig(vocab_size=65))`` or, equally, ``CharLM(vocab_size=65, cell="gru")``.
    """

    def __init__(self, config: CharLMConfig | None = None, **kwargs):
        super().__init__()
        if config is None:
            config = CharLMConfig(**kwargs)
        elif kwargs:
            raise TypeError(f"give either a CharLMConfig or keyword arguments, not both (got {sorted(kwargs)})")
        elif not isinstance(config, CharLMConfig):
            hint = (f": for a vocabulary of {config} characters write CharLM(vocab_size={config})"
                    if isinstance(config, numbers.Integral) and not isinstance(config, bool) else "")
            raise TypeError(f"config must be a CharLMConfig, got {type(config).__name__}{hint}")
        self.config = config
        ours, theirs = CELLS[config.cell]
        self.embed = nn.Embedding(config.vocab_size, config.emb)
        if config.reference:
            self.rnn = theirs(config.emb, config.hidden, num_layers=config.num_layers, batch_first=True)
        else:
            self.rnn = ours(config.emb, config.hidden, num_layers=config.num_layers)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, config.vocab_size)

    def forward(self, idx: torch.Tensor, state=None):
        """``idx (B, T)`` int64 -> ``(logits (B, T, V), state)``; ``state`` as the recurrent module's."""
        V = self.config.vocab_size
        if not isinstance(idx, torch.Tensor) or idx.is_floating_point() or idx.is_complex() or idx.dtype == torch.bool:
            got = idx.dtype if isinstance(idx, torch.Tensor) else type(idx).__name__
            raise TypeError(f"idx must be an integer tensor of token ids (B, T), got {got}")
        if idx.ndim != 2 or idx.shape[1] == 0:
            raise ValueError(f"idx must have shape (B, T) with T >= 1, got {tuple(idx.shape)}")
        device = self.embed.weight.device
        if idx.device != device:
            raise ValueError(f"idx is on {idx.device} but the model is on {device}: move it with "
                             f"idx.to({str(device)!r})")
        if idx.numel() and (idx.min() < 0 or idx.max() >= V):
            raise ValueError(f"idx must hold ids in 0..{V - 1}, got values in {int(idx.min())}..{int(idx.max())}")
        x = self.embed(idx)  # (B, T, emb)
        out, state = self.rnn(x, state)  # (B, T, H)
        logits = self.head(self.drop(out))  # (B, T, V)
        return logits, state

    @torch.no_grad()
    def generate(self, vocab, prompt: str, n: int, temperature: float = 1.0,
                 generator: torch.Generator | None = None, *, top_k: int | None = None,
                 top_p: float | None = None) -> str:
        """Feed ``prompt``, then sample ``n`` characters one at a time, carrying the state. Returns prompt + sample.

        Each character is drawn from ``softmax(logits / temperature)`` by :func:`course_lib.charlm.sample_next`
        (the sampler 07's GPT uses too): below 1 sharper, above 1 more random; ``temperature`` is a finite number >= 0,
        and 0 is greedy decoding (the most likely character every time; the generator is not used). ``top_k`` / ``top_p`` keep only the most
        likely characters (see ``sample_next``). Runs in eval mode (no dropout) and restores the training mode
        afterwards, also after an error. Pass a seeded CPU ``torch.Generator`` for a reproducible sample. ``n`` is at
        most :data:`MAX_GENERATE`; a larger request is refused before anything runs (generate in pieces, carrying on
        from the text so far, if you really need more).
        """
        n = charlm.check_generate(vocab, self.config.vocab_size, prompt, n, MAX_GENERATE)
        charlm.check_sampling(temperature, top_k, top_p, generator)
        device = self.head.weight.device
        with eval_mode(self):
            idx = vocab.encode(prompt).to(device).unsqueeze(0)  # (1, len(prompt))
            logits, state = self(idx)  # (1, len(prompt), V)
            new_ids: list[int] = []
            for step in range(n):
                next_id = charlm.sample_next(logits[0, -1], temperature, top_k, top_p, generator)
                new_ids.append(next_id)
                if step < n - 1:  # the last character needs no forward pass
                    logits, state = self(torch.tensor([[next_id]], device=device), state)  # (1, 1, V)
        return prompt + (vocab.decode(new_ids) if new_ids else "")  # n = 0: nothing to decode


def detach_state(state):
    """The same state cut off from the graph that computed it (``h_n`` or ``(h_n, c_n)``; ``None``, the empty initial
    state, stays ``None``; a list stays a list)."""
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        bad = [type(s).__name__ for s in state if not isinstance(s, torch.Tensor)]
        if bad:
            raise TypeError(f"state must be h_n or (h_n, c_n), tensors; got a {type(state).__name__} holding {bad[0]}")
        return type(state)(s.detach() for s in state)
    if not isinstance(state, torch.Tensor):
        raise TypeError(f"state must be h_n or (h_n, c_n), tensors; got {type(state).__name__}")
    return state.detach()


class TruncatedBPTT(nn.Module):
    """Truncated back-propagation through time for a :class:`CharLM` fed by ``data.lm_stream_batches``.

    In training mode each call starts from the previous call's final state, *detached*: the model remembers across
    batches, but gradients stop at the batch boundary. In eval mode every call starts from zeros.
    Returns the logits only, so it plugs into ``train.fit`` with ``lm_loss``. Call ``reset()`` to forget the state.
    """

    def __init__(self, model: CharLM):
        super().__init__()
        if not isinstance(model, nn.Module):
            what = f"the class {model.__name__}" if isinstance(model, type) else type(model).__name__
            raise TypeError(f"model must be a CharLM instance (TruncatedBPTT(CharLM(config))), got {what}")
        if isinstance(model, TruncatedBPTT):
            raise TypeError("model is already a TruncatedBPTT: wrap the CharLM once")
        self.model = model
        self.state = None

    def reset(self) -> None:
        self.state = None

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return self.model(idx)[0]
        if self.state is not None and _batch_size(self.state) != idx.shape[0]:
            self.state = None  # a batch of another size cannot continue the streams
        logits, state = self.model(idx, self.state)
        self.state = detach_state(state)
        return logits


def _batch_size(state) -> int:
    return (state[0] if isinstance(state, tuple) else state).shape[1]


@torch.no_grad()
def heldout_loss(model: CharLM, ids: torch.Tensor, streams: int = 16, block: int = 512) -> float:
    """Mean next-character cross-entropy (nats/char) of ``model`` on a whole text, read as continuous text.

    The text is cut into ``streams`` parallel pieces that are read block by block with the state carried over, as
    during training: only the first character of each piece is predicted from an empty state. Every character except
    the last ``len(ids) % streams`` and the very first of each piece is scored exactly once.

    ``model`` is a :class:`CharLM` (a :class:`TruncatedBPTT` wrapper is unwrapped: its stored state is neither used
    nor changed); ``ids`` a 1-D integer tensor of token ids; ``streams`` and ``block`` integers >= 1. Runs in eval
    mode and gives every submodule back its own mode afterwards, also after an error.
    """
    if isinstance(model, TruncatedBPTT):
        model = model.model
    if not isinstance(model, CharLM):
        raise TypeError(f"model must be a CharLM, got {type(model).__name__}")
    streams, block = _check_count("streams", streams), _check_count("block", block)
    if not isinstance(ids, torch.Tensor):
        raise TypeError(f"ids must be a 1-D tensor of token ids (vocab.encode(text)), got {type(ids).__name__}")
    if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise TypeError(f"ids must hold integer token ids (vocab.encode(text)), got dtype {ids.dtype}")
    if ids.ndim != 1 or len(ids) < 2 * streams:
        hint = " (flatten it with ids.view(-1))" if ids.ndim > 1 else ""
        raise ValueError(f"ids must be a 1-D text of at least {2 * streams} tokens (2 per stream, streams={streams}), "
                         f"got shape {tuple(ids.shape)}{hint}")
    V = model.config.vocab_size
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0 or hi >= V:
        raise ValueError(f"ids must hold token ids in 0..{V - 1} (the model's vocabulary), got values in {lo}..{hi}: "
                         "encode the text with the vocabulary the model was trained with")
    device = model.head.weight.device
    n = (len(ids) - 1) // streams  # predictions per stream
    x_all = ids[: n * streams].view(streams, n).to(device)  # (S, n)
    y_all = ids[1 : n * streams + 1].view(streams, n).to(device)  # (S, n): the next characters
    total, state = 0.0, None
    with eval_mode(model):
        for start in range(0, n, block):
            logits, state = model(x_all[:, start : start + block], state)  # (S, b, V)
            total += float(lm_loss(logits, y_all[:, start : start + block])) * logits.shape[0] * logits.shape[1]
    return total / (n * streams)
