"""Save and load model weights as safetensors, with a sha256 beside them.

``save(model, "data/checkpoints/mlp.safetensors")`` writes the file and ``mlp.safetensors.sha256``;
``load(model, path)`` checks the checksum first, so a damaged or half-written file gives a clear error instead of
garbage weights. safetensors stores only tensors (no pickled code), so loading a checkpoint cannot run code.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


class CheckpointError(RuntimeError):
    """A checkpoint is missing, damaged, or does not fit the model. The message says how to fix it."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save(model: torch.nn.Module, path: str | Path) -> Path:
    """Write ``model.state_dict()`` to ``path`` (safetensors) and its sha256 to ``path.sha256``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {name: t.detach().cpu().contiguous() for name, t in model.state_dict().items()}
    save_file(state, str(path))
    Path(str(path) + ".sha256").write_text(_sha256(path) + "\n")
    return path


def load(model: torch.nn.Module, path: str | Path, fix: str = "delete it and re-run the cell that trains and saves it"):
    """Load weights saved by :func:`save` into ``model`` after checking the checksum. Returns the model."""
    path = Path(path)
    sidecar = Path(str(path) + ".sha256")
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist.\nFix: re-run the cell that trains and saves it.")
    if not sidecar.exists():
        raise CheckpointError(f"checkpoint {path} has no checksum file {sidecar.name}.\nFix: {fix}.")
    if _sha256(path) != sidecar.read_text().strip():
        raise CheckpointError(f"checkpoint {path} is damaged (sha256 differs from {sidecar.name}).\nFix: {fix}.")
    try:
        state = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types for malformed files
        raise CheckpointError(f"checkpoint {path} cannot be read ({exc}).\nFix: {fix}.") from exc
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {path} does not fit this model: {exc}") from exc
    return model
