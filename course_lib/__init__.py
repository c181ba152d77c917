"""course_lib: the tested helper library behind the course's notebooks.

One module per concept: ``data`` (offline data sets), ``train`` (the training loop), ``checkpoint`` (safetensors
with checksums), ``mlp`` (notebook 01), ``checks`` (exercises), ``widgets`` (interactive figures).
"""
from .runtime import is_fast, pick, record_metric, setup

__all__ = ["setup", "is_fast", "pick", "record_metric"]
__version__ = "0.1.0"
