"""The adding problem as a race between recurrent cells (notebook 04), with the same care for every cell.

The task (``data.adding_task``): read ``T`` pairs (a number in [0, 1), a marker), and output the sum of the two marked
numbers, one marked in each half. Two levels tell what a model has learned:

- predicting the mean, 1.0, always: MSE = Var(a + b) = 2 · 1/12 = **1/6** (learned nothing);
- knowing only the *second* marked number b (the one closer to the end) and guessing the mean for the other:
  MSE = Var(a) = **1/12** (learned the easy half of the task).

Below 1/12 a model must have carried the first marked number across at least ``T/2`` steps.

Every cell gets the same treatment: the same data, steps, batch and clipping, and its own best learning rate from the
same grid, and its own best initialisation from ``INITS`` (``benchmarks/adding.py`` tries them all; the best setting
of a cell is the one with the lowest validation MSE summed over T = 20 and T = 100, :func:`best_settings`).
"""
from __future__ import annotations

import torch
from torch import nn

from . import data, train

# the initialisations tried for each cell; the first is PyTorch's default
INITS = {"RNN": ("default", "orthogonal", "identity"), "IRNN": ("identity",), "LSTM": ("default", "forget_bias_1"),
         "GRU": ("default",)}
MEAN_LEVEL = 1 / 6  # MSE of always predicting 1.0
ONE_NUMBER_LEVEL = 1 / 12  # MSE of knowing only the second marked number


class LastStepRegressor(nn.Module):
    """A recurrent layer reads ``x (B, T, 2)``; a linear layer maps its last output ``(B, H)`` to one number ``(B,)``.

    ``cell``: ``"RNN"`` (tanh units), ``"IRNN"`` (Le et al., 2015: a plain RNN with **ReLU** units, W_hh the identity
    and zero biases; ``nn.RNN(nonlinearity="relu")``), ``"LSTM"`` or ``"GRU"``. ``init`` (one of ``INITS[cell]``):
    ``"orthogonal"`` sets the RNN's W_hh to a random orthogonal matrix (every singular value 1, notebook 02's
    rho = 1 lesson), ``"identity"`` to the identity, ``"forget_bias_1"`` starts the LSTM's forget gates at
    sigma(1) ≈ 0.73 (notebook 03).
    """

    def __init__(self, cell: str, hidden: int = 64, init: str = "default"):
        super().__init__()
        if cell not in INITS:
            raise ValueError(f"cell must be one of {sorted(INITS)}, got {cell!r}")
        if init not in INITS[cell]:
            raise ValueError(f"init for {cell} must be one of {INITS[cell]}, got {init!r}")
        self.cell, self.init = cell, init
        if cell == "IRNN":
            self.rnn = nn.RNN(2, hidden, batch_first=True, nonlinearity="relu")
        else:
            self.rnn = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}[cell](2, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 1)
        with torch.no_grad():
            if init == "orthogonal":
                nn.init.orthogonal_(self.rnn.weight_hh_l0)
            elif init == "identity":
                self.rnn.weight_hh_l0.copy_(torch.eye(hidden))
                if cell == "IRNN":
                    self.rnn.bias_ih_l0.zero_()
                    self.rnn.bias_hh_l0.zero_()
            elif init == "forget_bias_1":  # PyTorch's gate order is i, f, g, o: rows H..2H are the forget gate
                self.rnn.bias_ih_l0[hidden : 2 * hidden].fill_(1.0)
                self.rnn.bias_hh_l0[hidden : 2 * hidden].zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.rnn(x)  # (B, T, H)
        return self.out(outputs[:, -1]).squeeze(-1)  # (B,)


def heldout(length: int, n: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    """The held-out sequences of one length (their own seed, never drawn for training)."""
    return data.adding_task(n, length, seed=10_000 + length)


def fit_adding(cell: str, length: int, steps: int, lr: float, init: str = "default", hidden: int = 64,
               batch: int = 64, seed: int = 0, eval_every: int | None = None) -> tuple[LastStepRegressor, train.History]:
    """Train one cell on fresh random batches: Adam at ``lr``, gradient norm clipped at 1, MSE loss.

    Returns ``(model, history)``; ``history.eval_loss`` is the held-out MSE on :func:`heldout` sequences.
    """
    torch.manual_seed(seed)
    model = LastStepRegressor(cell, hidden, init)
    step_seed = iter(range(1, 10**9))
    history = train.fit(model, lambda: data.adding_task(batch, length, seed=seed * 100_000 + next(step_seed)),
                        nn.functional.mse_loss, torch.optim.Adam(model.parameters(), lr=lr), steps=steps,
                        eval_batches=[heldout(length)], eval_every=eval_every or max(1, steps // 20),
                        clip_grad_norm=1.0, live=False)
    return model, history


def heldout_mse(model: nn.Module, length: int, n: int = 2000, seed: int = 20_000) -> float:
    """MSE of ``model`` on ``n`` fresh sequences of ``length`` (a seed no training batch uses)."""
    x, y = data.adding_task(n, length, seed=seed + length)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        prediction = model(x)
    model.train(was_training)
    if not isinstance(prediction, torch.Tensor) or prediction.shape != y.shape:
        shape = tuple(prediction.shape) if isinstance(prediction, torch.Tensor) else type(prediction).__name__
        raise ValueError(f"the model must map x of shape (n, T, 2) to one number per sequence, shape ({n},); "
                         f"got {shape}")
    return torch.nn.functional.mse_loss(prediction.float(), y).item()


def best_settings(runs: list[dict]) -> dict[str, dict]:
    """For each cell, ``{"init", "lr", "val_mse": {length: mse}}`` of the setting with the lowest validation MSE
    summed over the lengths."""
    settings = {}
    for row in runs:
        settings.setdefault((row["cell"], row["init"], row["lr"]), {})[row["length"]] = row["val_mse"]
    best = {}
    for (cell, init, lr), by_length in settings.items():
        if cell not in best or sum(by_length.values()) < sum(best[cell]["val_mse"].values()):
            best[cell] = {"init": init, "lr": lr, "val_mse": by_length}
    return best
