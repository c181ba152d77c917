"""Save and load model weights as safetensors, with a sha256 beside them.

``save(model, "data/checkpoints/mlp.safetensors")`` writes the file and ``mlp.safetensors.sha256``;
``load(model, path)`` checks the checksum first, so a damaged or half-written file gives a clear error instead of
garbage weights. safetensors stores only tensors (no pickled code), so loading a checkpoint cannot run code.

Paths may start with ``~`` (your home folder). The checksum file holds the sha256 in hex, in lower or upper case,
alone or in ``sha256sum``'s format (``<hex>  <file name>``), so ``sha256sum m.safetensors > m.safetensors.sha256``
makes a valid one.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


class CheckpointError(RuntimeError):
    """A checkpoint is missing, damaged, or does not fit the model. The message says how to fix it."""


_HEX = re.compile(r"[0-9a-fA-F]{64}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_sidecar(sidecar: Path) -> str | None:
    """The hex digest a checksum file holds (lower case), or ``None`` if it holds none.

    Accepts ``<hex>``, ``<hex>  <name>`` and ``<hex> *<name>`` (``sha256sum``'s text and binary forms), any case.
    """
    words = sidecar.read_text(errors="replace").split()
    if not words or not _HEX.fullmatch(words[0]):
        return None
    return words[0].lower()


def _as_path(path, name: str = "path") -> Path:
    """``path`` (str or PathLike, ``~`` expanded) for a checkpoint file; a folder or an empty name is refused."""
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a file path (str or pathlib.Path) such as "
                        f"'data/checkpoints/model.safetensors', got {type(path).__name__}")
    if str(path).strip() == "":
        raise ValueError(f"{name} is empty: give a file name such as 'data/checkpoints/model.safetensors'")
    path = Path(path).expanduser()
    if path.is_dir():
        raise ValueError(f"{name} {path} is a folder: give a file inside it, e.g. {path / 'model.safetensors'}")
    return path


def _check_model(model, verb: str) -> None:
    if isinstance(model, torch.nn.Module):
        return
    if isinstance(model, type) and issubclass(model, torch.nn.Module):
        raise TypeError(f"model must be a model instance, got the class {model.__name__}: build it first, "
                        f"e.g. checkpoint.{verb}({model.__name__}(...), path)")
    if isinstance(model, (str, os.PathLike)):
        raise TypeError(f"model must be an nn.Module, got the path {str(model)!r}: the model comes first, "
                        f"checkpoint.{verb}(model, path)")
    if isinstance(model, dict):
        raise TypeError(f"model must be an nn.Module to load the weights into, got a {type(model).__name__} "
                        f"(a state_dict?): build the model first, then checkpoint.load(model, path) fills it")
    raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")


def _unshared(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Contiguous CPU copies where needed; tensors that share memory (tied weights) are copied apart, as safetensors
    refuses shared memory."""
    out, seen = {}, set()
    for name, t in state.items():
        t = t.detach().cpu().contiguous()
        key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes()) if t.numel() else None
        if key is not None and key in seen:
            t = t.clone()
        elif key is not None:
            seen.add(key)
        out[name] = t
    return out


def save(model: torch.nn.Module | dict[str, torch.Tensor], path: str | Path) -> Path:
    """Write ``model.state_dict()`` to ``path`` (safetensors) and its sha256 to ``path.sha256``. Returns the path.

    ``model`` may also be a state_dict (a dict of tensors). Tied weights are stored once per name.
    """
    if isinstance(model, dict):
        bad = [k for k, v in model.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
        if bad:
            raise TypeError(f"model is a dict but not a state_dict: every key must be a name and every value a "
                            f"tensor (first bad key: {bad[0]!r})")
        state = model
    else:
        _check_model(model, "save")
        state = model.state_dict()
    path = _as_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(_unshared(state), str(path))
        Path(str(path) + ".sha256").write_text(_sha256(path) + "\n")
    except OSError as exc:
        raise CheckpointError(f"cannot write checkpoint {path}: {exc}.\n"
                              "Fix: choose a path in a folder you can write to (e.g. data/checkpoints/).") from exc
    return path


def load(model: torch.nn.Module, path: str | Path, fix: str = "delete it and re-run the cell that trains and saves it"):
    """Load weights saved by :func:`save` into ``model`` after checking the checksum. Returns the model.

    ``model`` is the model to fill (build it first; a state_dict is refused, as there is nothing to load it into).
    """
    _check_model(model, "load")
    path = _as_path(path)
    if any(t.is_meta for t in [*model.parameters(), *model.buffers()]):
        raise ValueError("model is on the meta device (it has no memory to load weights into): build it on the CPU, "
                         "then load")
    sidecar = Path(str(path) + ".sha256")
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist.\nFix: re-run the cell that trains and saves it.")
    if not sidecar.exists():
        raise CheckpointError(f"checkpoint {path} has no checksum file {sidecar.name}.\nFix: {fix}.")
    expected = _read_sidecar(sidecar)
    if expected is None:
        raise CheckpointError(f"checksum file {sidecar.name} of checkpoint {path} holds no sha256 (64 hex digits).\n"
                              f"Fix: {fix}.")
    if _sha256(path) != expected:
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
