"""The base every course widget is built on: a controller that draws, and a thin ipywidgets view.

* A **controller** holds the widget's state and one persistent matplotlib ``Figure`` (Agg canvas, never pyplot).
  ``set(**state)`` validates the new values and updates the existing artists (``set_data``, ``set_height`` …);
  ``png()`` renders the figure. It needs no browser, so tests drive it directly.
  Blitting keeps updates fast: artists listed in ``animated`` are drawn over a cached picture of everything else,
  which is redrawn only when a subclass sets ``background_stale = True`` (e.g. after changing an axis range).
* A **view** (:class:`WidgetView`) lays out core ipywidgets controls next to a ``widgets.Image`` showing the PNG.
  Changing a control calls ``controller.set(name=value)`` and puts the new PNG in the image; an error raised by the
  controller (a clear ``ValueError``) is shown in a message line instead of crashing the callback.
* ``_repr_mimebundle_`` adds an ``image/png`` of the current view, so a notebook stored with outputs still shows the
  picture where no kernel runs (GitHub, nbconvert HTML).
"""
from __future__ import annotations

import base64
import html
import io

import ipywidgets as widgets
import numpy as np
from matplotlib.artist import Artist
from PIL import Image as PILImage
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


class FigureController:
    """State + one persistent figure. Subclasses create their artists in ``__init__`` and implement ``_apply``."""

    def __init__(self, figsize: tuple[float, float] = (8, 3.5), dpi: int = 80):
        self.fig = Figure(figsize=figsize, dpi=dpi)
        self.canvas = FigureCanvasAgg(self.fig)
        self.state: dict = {}
        self.animated: list[Artist] = []  # artists redrawn on every update; set by subclasses via animate()
        self.background_stale = True
        self._background = None

    def animate(self, *artists: Artist) -> None:
        """Mark artists that change on every update: they are drawn over the cached background (blitting)."""
        for artist in artists:
            artist.set_animated(True)
            self.animated.append(artist)

    def set(self, **changes) -> None:
        """Validate and apply new state values, then update the artists. Unknown names raise ``TypeError``."""
        unknown = set(changes) - set(self.state)
        if unknown:
            raise TypeError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(self.state)}")
        new_state = {**self.state, **changes}
        self._validate(new_state)
        self.state = new_state
        self._apply()

    def _validate(self, state: dict) -> None:
        """Raise ``ValueError`` for a bad state (subclasses override)."""

    def _apply(self) -> None:
        """Update the figure's artists from ``self.state`` (subclasses override)."""
        raise NotImplementedError

    def draw(self) -> None:
        """Bring the canvas up to date: the background only when stale, then the animated artists over it."""
        if self.background_stale or self._background is None or not self.animated:  # no blitting: draw it all
            self.canvas.draw()  # draws everything except animated artists
            self._background = self.canvas.copy_from_bbox(self.fig.bbox)
            self.background_stale = False
        else:
            self.canvas.restore_region(self._background)
        for artist in self.animated:
            self.fig.draw_artist(artist)

    def png(self) -> bytes:
        """The current view as PNG bytes."""
        self.draw()
        pixels = np.asarray(self.canvas.buffer_rgba())
        buf = io.BytesIO()
        PILImage.fromarray(pixels).save(buf, format="png", compress_level=1)
        return buf.getvalue()

    def _repr_png_(self) -> bytes:
        return self.png()


class WidgetView:
    """Controls + image + message line for a :class:`FigureController`.

    ``controls`` maps a state name of the controller to the ipywidgets control that edits it. Extra widgets that are
    not state (a ``Play`` button linked to a slider, say) go in ``extras``; they are laid out before the controls.
    """

    def __init__(self, controller: FigureController, controls: dict[str, widgets.ValueWidget],
                 extras: list[widgets.Widget] | None = None):
        self.controller = controller
        self.controls = controls
        self.image = widgets.Image(value=controller.png(), format="png")
        self.message = widgets.HTML(value="")
        for name, control in controls.items():
            control.observe(self._make_handler(name), names="value")
        row = widgets.HBox([*(extras or []), *controls.values()], layout=widgets.Layout(flex_flow="row wrap"))
        self.box = widgets.VBox([row, self.message, self.image])

    def _make_handler(self, name: str):
        def handler(change):
            self.update(**{name: change["new"]})
        return handler

    def update(self, **changes) -> bool:
        """Apply changes to the controller and refresh the image; show the error instead if the controller refuses."""
        try:
            self.controller.set(**changes)
        except (ValueError, KeyError) as exc:
            text = exc.args[0] if exc.args else str(exc)
            self.message.value = f"<span style='color:#b00'>⚠ {html.escape(str(text))}</span>"
            return False
        self.message.value = ""
        self.image.value = self.controller.png()
        return True

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.box._repr_mimebundle_(**kwargs)
        bundle["image/png"] = base64.b64encode(self.controller.png()).decode("ascii")
        return bundle
