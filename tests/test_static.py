"""Notebooks read well without a kernel: stored PNG fallbacks, widget state GitHub can render, HTML with the figures."""
import base64
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def _outputs(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_outputs_and_widget_state(path):
    nb = nbformat.read(path, as_version=4)
    outputs = _outputs(nb)
    assert outputs, f"{path.name} has no stored outputs: run `python3 course.py regenerate`"
    assert not [o for o in outputs if o.output_type == "error"], f"{path.name} stores an error"
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code_cells if c.outputs), "every stored output needs an execution count"
    views = [o for o in outputs if WIDGET_VIEW in o.get("data", {})]
    for view in views:
        if "image/png" not in view.data:  # tqdm bars are plain widgets; course widgets carry a picture
            assert "HBox" in view.data["text/plain"] or "FloatProgress" in view.data["text/plain"]
    course_widgets = [v for v in views if "image/png" in v.data]
    if course_widgets:
        state = nb.metadata["widgets"][WIDGET_STATE]["state"]
        assert isinstance(state, dict)
        for view in course_widgets:
            assert view.data[WIDGET_VIEW]["model_id"] in state, "widget view without stored state"


def test_html_export_shows_every_figure_and_widget_picture(tmp_path):
    python = shutil.which("python3") or sys.executable
    subprocess.run([python, "course.py", "html", str(tmp_path)], cwd=ROOT, check=True, capture_output=True)
    for path in NOTEBOOKS:
        html = (tmp_path / f"{path.stem}.html").read_text()
        shown = set(re.findall(r'<img[^>]*src="data:image/png;base64,([A-Za-z0-9+/=\n]{64})', html))
        for output in _outputs(nbformat.read(path, as_version=4)):
            png = output.get("data", {}).get("image/png")
            if png:
                head = png.replace("\n", "")[:64]
                assert any(s.replace("\n", "") == head for s in shown), f"{path.name}: a picture is missing in HTML"
                base64.b64decode(png)


def _table_rows(markdown: str) -> dict[str, str]:
    """``{"05": "the row's text", ...}`` for every ``| NN | ...`` row of a Markdown table."""
    return {m.group(1): m.group(0) for m in re.finditer(r"^\| (\d\d) \|.*$", markdown, flags=re.M)}


def test_navigation_stays_true():
    """00's and the README's tables link every notebook that exists and call only missing ones planned; every
    notebook ends with a Next line that links the next notebook when it exists, and says planned when it does not."""
    existing = {p.name[:2]: p.name for p in NOTEBOOKS}
    course_table = "\n".join(c.source for c in nbformat.read(NOTEBOOKS[0], as_version=4).cells
                             if c.cell_type == "markdown")
    readme = (ROOT / "README.md").read_text()
    for where, text, link in (("00's table", course_table, "{name}"), ("README's table", readme, "notebooks/{name}")):
        rows = _table_rows(text)
        assert set(rows) >= set(existing), f"{where} lacks notebooks {sorted(set(existing) - set(rows))}"
        for number, row in rows.items():
            if number in existing:
                if number != "00" or where != "00's table":
                    assert f"({link.format(name=existing[number])})" in row, f"{where}: {number} is not linked"
                assert "planned" not in row, f"{where}: {number} exists but is called planned"
            else:
                assert "planned" in row, f"{where}: {number} does not exist but is not called planned"
    for path in NOTEBOOKS:
        last = nbformat.read(path, as_version=4).cells[-1].source
        following = f"{int(path.name[:2]) + 1:02d}"
        lines = [line for line in last.splitlines() if line.startswith("**Next:**")]
        assert lines, f"{path.name} does not end with a **Next:** line"
        if following in existing:
            assert f"]({existing[following]})" in lines[-1], f"{path.name}: Next must link {existing[following]}"
        else:
            assert "planned" in lines[-1], f"{path.name}: Next points at {following}, which does not exist yet"


def test_the_glossary_is_linked_and_names_real_notebooks():
    glossary = ROOT / "docs" / "glossary.md"
    rows = [line for line in glossary.read_text(encoding="utf-8").splitlines()
            if line.startswith("| ") and not line.startswith("| English") and not line.startswith("|---")]
    assert len(rows) >= 40
    existing = {p.name[:2] for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")}
    for row in rows:
        english, chinese, meaning, where = [cell.strip() for cell in row.strip("|").split("|")]
        assert english and meaning and any("\u4e00" <= ch <= "\u9fff" for ch in chinese), row
        for number in re.findall(r"\b(\d\d)\b(?! \*planned)", where):
            assert number in existing or "planned" in where, f"{row}: notebook {number} does not exist"
        for number in re.findall(r"\b(\d\d) \*planned\*", where):
            assert number not in existing, f"{row}: notebook {number} exists now; drop *planned*"
    assert "docs/glossary.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "../docs/glossary.md" in (ROOT / "notebooks" / "00-getting-started.ipynb").read_text(encoding="utf-8")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_attached_pictures_are_shown_and_readable(path):
    """A picture stored in a markdown cell (e.g. 03's and 04's cell diagrams, drawn by docs/figures/cells.py) is
    referenced by its cell, and is a real PNG; every attachment the text refers to exists."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        attachments = cell.get("attachments", {})
        referenced = set(re.findall(r"\(attachment:([^)\s]+)\)", cell.source))
        assert referenced == set(attachments), f"{path.name}: attachments {set(attachments)}, referenced {referenced}"
        for name, data in attachments.items():
            assert base64.b64decode(data["image/png"])[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name}: {name} is not a PNG"


def test_cell_diagrams_are_in_their_notebooks():
    for stem, picture in (("03-lstm", "lstm-cell.png"), ("04-gru", "gru-cell.png")):
        nb = nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)
        assert any(picture in c.get("attachments", {}) for c in nb.cells), f"run docs/figures/cells.py ({stem})"
