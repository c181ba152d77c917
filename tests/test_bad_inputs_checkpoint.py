"""Bad and edge-case inputs of ``course_lib.checkpoint``, one table row per call a learner might make.

Every row works in a fresh folder of its own (under one temporary folder removed at the end); rows that hand a model to
``load`` check that a refused load leaves it exactly as it was.
"""
import contextlib
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch
from torch import nn

from badinput import Case, ids, model_state, run_case
from course_lib import checkpoint
from course_lib.checkpoint import CheckpointError

_BASE: list[Path] = []  # the one temporary folder of this module, made on first use


@pytest.fixture(scope="module", autouse=True)
def _remove_base():
    yield
    for base in _BASE:
        shutil.rmtree(base, ignore_errors=True)


def _folder() -> Path:
    if not _BASE:
        _BASE.append(Path(tempfile.mkdtemp(prefix="badinput-checkpoint-")))
    return Path(tempfile.mkdtemp(dir=_BASE[0]))


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _saved(model=None, name="m.safetensors") -> Path:
    return checkpoint.save(_net() if model is None else model, _folder() / name)


@contextlib.contextmanager
def _home_and_cwd():
    """HOME and the working folder both moved to fresh folders, restored afterwards."""
    home, cwd = _folder(), _folder()
    old_home, old_cwd = os.environ.get("HOME"), os.getcwd()
    os.environ["HOME"] = str(home)
    os.chdir(cwd)
    try:
        yield home, cwd
    finally:
        os.chdir(old_cwd)
        if old_home is None:
            del os.environ["HOME"]
        else:
            os.environ["HOME"] = old_home


def _save_with_tilde():
    with _home_and_cwd() as (home, cwd):
        path = checkpoint.save(_net(), "~/ckpt/m.safetensors")
        return (path == home / "ckpt" / "m.safetensors" and path.exists()
                and (home / "ckpt" / "m.safetensors.sha256").exists() and not (cwd / "~").exists())


def _load_with_tilde():
    with _home_and_cwd() as (home, cwd):
        checkpoint.save(_net(1), home / "m.safetensors")
        loaded = checkpoint.load(_net(2), "~/m.safetensors")
        return _same_weights(loaded, _net(1)) and not (cwd / "~").exists()


def _with_sidecar(text_of_digest):
    """Save, rewrite the checksum file as ``text_of_digest(hex digest, file name)``, then load into a fresh model."""
    path = _saved(_net(1))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    Path(str(path) + ".sha256").write_text(text_of_digest(digest, path.name))
    return _same_weights(checkpoint.load(_net(2), path), _net(1))


def _damaged_sidecar():
    path = _saved()
    Path(str(path) + ".sha256").write_text("0" * 64 + "  m.safetensors\n")
    return path


def _empty_sidecar():
    path = _saved()
    Path(str(path) + ".sha256").write_text("")
    return path


class Tied(nn.Module):
    """An embedding and an output layer sharing one weight matrix (weight tying)."""

    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.embed = nn.Embedding(5, 3)
        self.head = nn.Linear(3, 5, bias=False)
        self.head.weight = self.embed.weight


def _tied_round_trip():
    path = checkpoint.save(Tied(1), _folder() / "tied.safetensors")
    loaded = checkpoint.load(Tied(2), path)
    return (_same_weights(loaded, Tied(1)) and loaded.head.weight is loaded.embed.weight)


def _state_dict_round_trip():
    path = checkpoint.save(_net(1).state_dict(), _folder() / "sd.safetensors")
    return _same_weights(checkpoint.load(_net(2), path), _net(1))


def _float64_model():
    path = _saved(_net(1))
    loaded = checkpoint.load(_net(2).double(), path)
    return loaded[0].weight.dtype == torch.float64 and torch.equal(loaded[0].weight, _net(1)[0].weight.double())


def _parent_is_a_file():
    folder = _folder()
    (folder / "notes.txt").write_text("a file, not a folder")
    return checkpoint.save(_net(), folder / "notes.txt" / "m.safetensors")


TARGET = _net(5)  # rows that hand this model to a load that must fail check it stays exactly as it was
TARGET_STATE = lambda: model_state(TARGET)  # noqa: E731

CASES = [
    # paths
    Case("save: '~' is your home folder, not a folder named '~'", _save_with_tilde, returns=lambda ok: ok is True),
    Case("load: '~' is your home folder", _load_with_tilde, returns=lambda ok: ok is True),
    Case("save: path None", lambda: checkpoint.save(_net(), None), raises=TypeError,
         match=r"path must be a file path \(str or pathlib\.Path\).*got NoneType"),
    Case("save: path as an int", lambda: checkpoint.save(_net(), 3), raises=TypeError,
         match=r"path must be a file path.*got int"),
    Case("save: path as bytes", lambda: checkpoint.save(_net(), b"m.safetensors"), raises=TypeError,
         match=r"path must be a file path.*got bytes"),
    Case("save: empty path", lambda: checkpoint.save(_net(), ""), raises=ValueError,
         match=r"path is empty: give a file name such as"),
    Case("save: path is a folder", lambda: checkpoint.save(_net(), _folder()), raises=ValueError,
         match=r"path .* is a folder: give a file inside it, e\.g\. .*model\.safetensors"),
    Case("load: path is a folder", lambda: checkpoint.load(TARGET, _folder()), raises=ValueError,
         match=r"path .* is a folder", state=TARGET_STATE),
    Case("save: the parent folder is a file", _parent_is_a_file, raises=CheckpointError,
         match=r"(?s)cannot write checkpoint .*notes\.txt/m\.safetensors: .*File exists.*"
               r"Fix: choose a path in a folder you can write"),
    Case("load: missing file", lambda: checkpoint.load(TARGET, _folder() / "none.safetensors"), raises=CheckpointError,
         match=r"does not exist\.\nFix: re-run the cell that trains and saves it", state=TARGET_STATE),
    # checksum files
    Case("load: sha256sum's format '<hex>  <name>'", lambda: _with_sidecar(lambda h, name: f"{h}  {name}\n"),
         returns=lambda ok: ok is True),
    Case("load: sha256sum's binary format '<hex> *<name>'", lambda: _with_sidecar(lambda h, name: f"{h} *{name}\n"),
         returns=lambda ok: ok is True),
    Case("load: an upper-case checksum", lambda: _with_sidecar(lambda h, name: h.upper()),
         returns=lambda ok: ok is True),
    Case("load: a checksum without a newline, with spaces around", lambda: _with_sidecar(lambda h, name: f"  {h}  "),
         returns=lambda ok: ok is True),
    Case("load: a checksum that differs is 'damaged'", lambda: checkpoint.load(TARGET, _damaged_sidecar()),
         raises=CheckpointError, match=r"is damaged \(sha256 differs from m\.safetensors\.sha256\)",
         state=TARGET_STATE),
    Case("load: an empty checksum file", lambda: checkpoint.load(TARGET, _empty_sidecar()), raises=CheckpointError,
         match=r"checksum file m\.safetensors\.sha256 .* holds no sha256 \(64 hex digits\)\.\nFix:",
         state=TARGET_STATE),
    # the model argument
    Case("load: a state_dict instead of a model", lambda: checkpoint.load(_net().state_dict(), _saved()),
         raises=TypeError, match=r"model must be an nn\.Module to load the weights into.*state_dict.*build the model"),
    Case("save: a state_dict is saved as the model's weights", _state_dict_round_trip, returns=lambda ok: ok is True),
    Case("save: a dict that is not a state_dict", lambda: checkpoint.save({"w": [1.0]}, _folder() / "x.safetensors"),
         raises=TypeError, match=r"model is a dict but not a state_dict.*'w'"),
    Case("save: arguments swapped", lambda: checkpoint.save("m.safetensors", _net()), raises=TypeError,
         match=r"model must be an nn\.Module, got the path 'm\.safetensors': the model comes first"),
    Case("load: arguments swapped", lambda: checkpoint.load(str(_saved()), TARGET), raises=TypeError,
         match=r"got the path .*the model comes first, checkpoint\.load\(model, path\)", state=TARGET_STATE),
    Case("load: the class instead of a model", lambda: checkpoint.load(nn.Linear, _saved()), raises=TypeError,
         match=r"got the class Linear: build it first, e\.g\. checkpoint\.load\(Linear\(\.\.\.\), path\)"),
    Case("save: the class instead of a model", lambda: checkpoint.save(nn.Linear, _folder() / "c.safetensors"),
         raises=TypeError, match=r"got the class Linear: build it first"),
    Case("save: None as the model", lambda: checkpoint.save(None, _folder() / "n.safetensors"), raises=TypeError,
         match=r"model must be an nn\.Module, got NoneType"),
    Case("load: a model on the meta device (loading would do nothing)",
         lambda: checkpoint.load(nn.Sequential(nn.Linear(3, 4, device="meta"), nn.Tanh(),
                                               nn.Linear(4, 2, device="meta")), _saved()),
         raises=ValueError, match=r"model is on the meta device.*build it on the CPU"),
    Case("load: a model of another shape", lambda: checkpoint.load(TARGET[0], _saved()), raises=CheckpointError,
         match=r"does not fit this model", state=TARGET_STATE),
    # what must work
    Case("save/load: tied weights (shared memory)", _tied_round_trip, returns=lambda ok: ok is True),
    Case("load: into a float64 model converts", _float64_model, returns=lambda ok: ok is True),
    Case("save/load: a model without parameters", lambda: checkpoint.load(nn.ReLU(), _saved(nn.ReLU())),
         returns=lambda m: isinstance(m, nn.ReLU)),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_input(case):
    run_case(case)
