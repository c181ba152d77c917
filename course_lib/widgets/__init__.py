"""Interactive widgets of the course. Each is a controller (testable without a browser) plus a thin ipywidgets view."""
from .activations import ActivationExplorer, activation_explorer
from .base import FigureController, WidgetView
from .predictions import PredictionExplorer, prediction_explorer

__all__ = ["FigureController", "WidgetView", "ActivationExplorer", "activation_explorer",
           "PredictionExplorer", "prediction_explorer"]
