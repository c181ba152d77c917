"""Write the README's pictures of the gate and attention explorers from the notebooks' stored full-mode outputs.

The browser test's screenshots (``COURSE_UPDATE_SCREENSHOTS=1``) come from a fast-mode run, whose models are barely
trained; these come from the trained models of ``python3 course.py regenerate``: each explorer cell stores the PNG
picture of its figure next to the widget (the fallback GitHub shows). Run after regenerating:

    .venv/bin/python docs/screenshots/from_notebooks.py
"""
import base64
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
# (notebook, name of the variable the cell displays, picture)
PICTURES = [("03-lstm", "explorer", "lstm-gate-explorer.png"),
            ("04-gru", "gru_explorer", "gru-gate-explorer.png"),
            ("05-attention", "explorer", "attention-explorer.png"),
            ("06-transformer", "explorer", "transformer-attention-explorer.png"),
            ("06-transformer", "encoder_explorer", "transformer-encoder-explorer.png"),
            ("07-gpt", "sampler", "sampling-explorer.png"),
            ("07-gpt", "explorer", "gpt-attention-explorer.png"),
            ("08-bert-mlm", "explorer", "fill-mask-explorer.png"),
            ("08-bert-mlm", "minilm_view", "minilm-attention-explorer.png"),
            ("09-cnn", "explorer", "convolution-explorer.png"),
            ("10-resnet", "maps_explorer", "resnet-feature-maps.png"),
            ("11-large-models-in-practice", "explorer", "confusion-explorer.png")]


def stored_png(notebook: str, variable: str) -> bytes:
    cells = nbformat.read(ROOT / "notebooks" / f"{notebook}.ipynb", as_version=4).cells
    for cell in cells:
        if cell.cell_type == "code" and cell.source.rstrip().splitlines()[-1:] == [variable]:
            for output in cell.outputs:
                if "image/png" in output.get("data", {}):
                    return base64.b64decode(output["data"]["image/png"])
    raise SystemExit(f"{notebook}: no cell that ends with {variable!r} and stores a PNG: regenerate it first")


if __name__ == "__main__":
    for notebook, variable, name in PICTURES:
        (Path(__file__).parent / name).write_bytes(stored_png(notebook, variable))
        print("written", name)
