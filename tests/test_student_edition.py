"""The student edition (`python3 course.py student`): every worked solution removed, nothing else, and it still runs.

The edition is built from the stored notebooks with the standard library only; here it is checked cell by cell against
the course, then executed by nbval in fast mode, as the course's notebooks are.
"""
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def _course():
    spec = importlib.util.spec_from_file_location("course_cli", ROOT / "course.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _text(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_edition_removes_the_solutions_and_nothing_else(path):
    course = _course()
    original = json.loads(path.read_text(encoding="utf-8"))
    edition, removed = course.student_notebook(original)
    checks = sum("checks.check_" in _text(c) for c in original["cells"] if c["cell_type"] == "code")
    assert removed == checks >= 1, "one worked solution per checked exercise"
    markdown = " ".join(_text(c) for c in edition["cells"] if c["cell_type"] == "markdown")
    assert not re.search(r"<summary>\s*Solution", markdown)
    hints = lambda nb: sum(_text(c).count("<summary>Hint") for c in nb["cells"])  # noqa: E731
    assert hints(edition) == hints(original)
    assert "Student edition" in _text(edition["cells"][0]) and edition["metadata"]["course_edition"] == "student"
    assert len(edition["cells"]) == len(original["cells"])
    for ours, theirs in zip(edition["cells"], original["cells"]):
        if theirs["cell_type"] == "code":  # templates, checks, outputs and widget state: untouched
            assert ours == theirs
    assert original == json.loads(path.read_text(encoding="utf-8")), "the course itself must not change"


def test_the_command_writes_every_notebook(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "course.py"), "student", str(tmp_path / "edition")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "edition").glob("*.ipynb")) == [p.name for p in NOTEBOOKS]
    refused = subprocess.run([sys.executable, str(ROOT / "course.py"), "student", str(ROOT / "notebooks")],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "must not be notebooks/" in refused.stderr


def test_the_edition_runs_in_fast_mode():
    """nbval, fast mode, every notebook of the edition (about two minutes): built inside the checkout so that the
    course's pytest settings and sanitizers apply."""
    out = ROOT / "build" / "student-ci"
    subprocess.run([sys.executable, str(ROOT / "course.py"), "student", str(out)], check=True, capture_output=True,
                   timeout=120)
    env = {**os.environ, "COURSE_FAST": "1", "COURSE_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             *sorted(str(p) for p in out.glob("*.ipynb"))],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"\d+ passed", result.stdout)
