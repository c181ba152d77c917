"""The base every course widget is built on: a controller that draws, and a thin ipywidgets view.

* A **controller** holds the widget's state and one persistent matplotlib ``Figure`` (Agg canvas, never pyplot).
  ``set(**state)`` validates the new values and updates the existing artists (``set_data``, ``set_height`` …);
  ``png()`` renders the figure. It needs no browser, so tests drive it directly.
  Blitting keeps updates fast: artists listed in ``animated`` are drawn over a cached picture of everything else,
  which is redrawn only when a subclass sets ``background_stale = True`` (e.g. after changing an axis range).
* ``set`` is **transactional**. ``_validate`` raises a clear ``ValueError``/``TypeError`` naming the setting; if it or
  ``_apply`` raises anything, the controller is rolled back before the error propagates: ``state`` is the previous
  state, attributes that the failed step rebound are restored, and (if ``_apply`` had started) the previous state is
  applied again, so the artists show the last good state and the next valid value works. A subclass whose
  ``_apply`` skips work by remembering what it drew (e.g. "this text is already drawn") overrides
  ``_forget_drawn()`` to drop that memo, so the re-apply after a failure redraws everything.
* A **view** (:class:`WidgetView`) lays out core ipywidgets controls next to a ``widgets.Image`` showing the PNG.
  Changing a control calls ``controller.set(name=value)`` and puts the new PNG in the image. Any exception raised by
  the controller while setting or drawing (a clear ``ValueError``, or a bug) is shown in the message line, the
  controller is rolled back and the image keeps the last good picture: a learner's callback never gets a traceback.
* ``_repr_mimebundle_`` adds an ``image/png`` of the current view, so a notebook stored with outputs still shows the
  picture where no kernel runs (GitHub, nbconvert HTML).
* Validation helpers for ``_validate``: :func:`check_number`, :func:`check_integer`, :func:`check_choice` raise a
  ``TypeError`` (wrong type: a tensor, a string, a bool where a number belongs) or a ``ValueError`` (out of range,
  unknown option) whose message starts with the setting's name.

**Closing, and re-running a cell.** ipywidgets keeps every open widget in its registry until ``close()``, and IPython
keeps every displayed result in ``Out``; a widget left behind keeps its figure and data (10 gate explorers ≈ 140 MB).

* ``view.close()`` closes the view's ipywidgets (controls, extras, image, message, boxes, and widgets it was given
  with ``view.own(...)``, e.g. a ``jslink``) — they leave the registry and vanish from the page — drops their
  callbacks, and calls ``controller.close()``, which drops the figure and everything else the controller holds
  (arrays, caches, model copies). Closing twice does nothing; a closed controller or view raises a ``RuntimeError``
  that says so when it is used again. A control shared by two views is closed with the first of them.
* **Re-running a cell closes the widgets its previous run created.** When a Jupyter front end runs a cell it sends the
  cell's id with the request (JupyterLab and Notebook 7 put it in ``metadata["cellId"]`` of the ``execute_request``;
  ipykernel 7 exposes that message as ``get_ipython().parent_header``). Each new view remembers the cell and the
  request that created it; when a *later* request of the *same* cell creates a view, the views of that cell's
  earlier run are closed. Views of different cells, and several views made by one run of a cell, all stay open.
  The old views are closed only once the cell makes a new one: a cell edited so that it no longer creates a widget
  leaves its old widget open (call ``close()`` on it).
* Outside such a front end (plain Python, pytest, a kernel driven without cell ids such as nbval or nbconvert, or a
  view created inside a widget callback) nothing is closed automatically; call ``view.close()`` when a widget is no
  longer needed. The registry of views per cell holds weak references only, so it never keeps a widget alive.
"""
from __future__ import annotations

import base64
import difflib
import html
import io
import numbers
import sys
import weakref

import ipywidgets as widgets
import numpy as np
from matplotlib.artist import Artist
from PIL import Image as PILImage
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

CLOSED_MESSAGE = ("this widget was closed (its cell was re-run, or close() was called) and has released its figure; "
                  "use the widget the cell created last, or create a new one")


def _got(value) -> str:
    """``type value`` for a message, short."""
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _item_hint(value) -> str:
    """The fix for a one-element tensor or array given where a plain number belongs."""
    is_container = hasattr(value, "item") and not isinstance(value, (bool, np.bool_, np.generic))
    return "; for a one-element tensor or array pass .item()" if is_container else ""


def check_number(name: str, value, low: float, high: float) -> None:
    """A real number (int, float or NumPy scalar, not a bool or a tensor) in ``[low, high]``; NaN is refused."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        hint = _item_hint(value)
        raise TypeError(f"{name} must be a number in [{low}, {high}], got {_got(value)}{hint}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")


def check_integer(name: str, value, low: int, high: int) -> None:
    """An integer (int or NumPy integer, not a bool, a float or a tensor) in ``[low, high]``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        hint = _item_hint(value)
        raise TypeError(f"{name} must be an integer in [{low}, {high}], got {_got(value)}{hint}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")


def check_choice(name: str, value, options, what: str = "") -> None:
    """One of ``options`` (strings); suggests the closest option for a near miss (``relu`` for ``ReLU``)."""
    options = list(options)
    where = f" {what}" if what else ""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of the{where} options {options}, got {_got(value)}")
    if value not in options:
        close = [o for o in options if o.lower() == value.strip().lower()] or difflib.get_close_matches(value, options, 1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"{name} must be one of the{where} options {options}, got {value!r}{hint}")


class FigureController:
    """State + one persistent figure. Subclasses create their artists in ``__init__`` and implement ``_apply``."""

    def __init__(self, figsize: tuple[float, float] = (8, 3.5), dpi: int = 80):
        self.fig = Figure(figsize=figsize, dpi=dpi)
        self.canvas = FigureCanvasAgg(self.fig)
        self.state: dict = {}
        self.animated: list[Artist] = []  # artists redrawn on every update; set by subclasses via animate()
        self.background_stale = True
        self._background = None

    def __getattr__(self, name: str):
        # only reached when normal lookup fails: after close() every attribute is gone, so say why
        if self.__dict__.get("_closed"):
            raise RuntimeError(CLOSED_MESSAGE)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has released the figure."""
        return bool(self.__dict__.get("_closed"))

    def animate(self, *artists: Artist) -> None:
        """Mark artists that change on every update: they are drawn over the cached background (blitting)."""
        for artist in artists:
            artist.set_animated(True)
            self.animated.append(artist)

    def set(self, **changes) -> None:
        """Validate and apply new state values, then update the artists. Unknown names raise ``TypeError``.

        Transactional: if validating or applying raises, the controller is rolled back to the last good state (see
        the module docstring) and the error propagates.
        """
        unknown = set(changes) - set(self.state)
        if unknown:
            raise TypeError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(self.state)}")
        checkpoint = self._checkpoint()
        new_state = {**self.state, **changes}
        try:
            self._validate(new_state)
        except BaseException:
            self._restore(checkpoint, redraw=False)  # the artists were not touched
            raise
        try:
            self.state = new_state
            self._apply()
        except BaseException as exc:
            self._restore(checkpoint, redraw=True, error=exc)
            raise

    def _checkpoint(self) -> dict:
        """A shallow copy of the controller's attributes (the state dict included), for :meth:`_restore`."""
        return dict(self.__dict__)

    def _restore(self, checkpoint: dict, redraw: bool, error: BaseException | None = None) -> None:
        """Roll back to ``checkpoint``; with ``redraw``, apply that state again so the artists show it."""
        self.__dict__.clear()
        self.__dict__.update(checkpoint)
        if not redraw:
            return
        self.background_stale = True
        try:
            self._forget_drawn()
            self._apply()
        except Exception as again:  # noqa: BLE001 - the first error is the one to report
            if error is not None:
                error.add_note(f"restoring the previous state failed too: {type(again).__name__}: {again}")

    def _forget_drawn(self) -> None:
        """Drop any memo of what the artists show, so the next ``_apply`` redraws everything (subclasses override
        this if their ``_apply`` skips work that it believes is already drawn)."""

    def _validate(self, state: dict) -> None:
        """Raise ``ValueError``/``TypeError`` naming the setting for a bad state (subclasses override)."""

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

    def _repr_png_(self) -> bytes | None:
        return None if self.closed else self.png()

    def close(self) -> None:
        """Release the figure and everything else the controller holds; afterwards any use raises ``RuntimeError``.

        Subclasses that hold something needing more than dropping a reference may override this and call
        ``super().close()`` last. Calling it twice does nothing.
        """
        if self.closed:
            return
        self.__dict__.clear()  # the figure, its canvas and artists, and all data: collected with the next gc pass
        self._closed = True


# cell id -> (id of the request that last created views in that cell, weak references to those views)
_views_by_cell: dict[str, tuple[str, list[weakref.ReferenceType]]] = {}


def _running_cell() -> tuple[str, str] | None:
    """``(cell id, request id)`` while a Jupyter front end that sends cell ids runs a cell; otherwise ``None``."""
    ipython = sys.modules.get("IPython")  # not imported: certainly not inside a kernel
    shell = ipython.get_ipython() if ipython is not None else None
    parent = getattr(shell, "parent_header", None)
    if not isinstance(parent, dict):
        return None
    header, metadata = parent.get("header"), parent.get("metadata")
    if not isinstance(header, dict) or not isinstance(metadata, dict) or header.get("msg_type") != "execute_request":
        return None
    cell, request = metadata.get("cellId"), header.get("msg_id")
    return (str(cell), str(request)) if cell and request else None


def _replace_previous_run(view: "WidgetView") -> None:
    """Remember ``view`` under the running cell; close the views an earlier run of that cell created."""
    running = _running_cell()
    if running is None:
        return
    cell, request = running
    last_request, refs = _views_by_cell.get(cell, (None, []))
    if last_request != request:
        for ref in refs:
            old = ref()
            if old is not None:
                old.close()
        refs = []
    refs = [r for r in refs if r() is not None] + [weakref.ref(view)]
    _views_by_cell[cell] = (request, refs)


class WidgetView:
    """Controls + image + message line for a :class:`FigureController`.

    ``controls`` maps a state name of the controller to the ipywidgets control that edits it. Extra widgets that are
    not state (a ``Play`` button linked to a slider, say) go in ``extras``; they are laid out before the controls.
    ``close()`` closes the view's widgets and releases the controller's figure; re-running the cell that created a
    view closes it (see the module docstring).
    """

    def __init__(self, controller: FigureController, controls: dict[str, widgets.ValueWidget],
                 extras: list[widgets.Widget] | None = None):
        self.controller = controller
        self.controls = controls
        self.closed = False
        self._owned: list = []
        self.image = widgets.Image(value=controller.png(), format="png")
        self.message = widgets.HTML(value="")
        for name, control in controls.items():
            control.observe(self._make_handler(name), names="value")
        row = widgets.HBox([*(extras or []), *controls.values()], layout=widgets.Layout(flex_flow="row wrap"))
        self.box = widgets.VBox([row, self.message, self.image])
        _replace_previous_run(self)

    def _make_handler(self, name: str):
        def handler(change):
            self.update(**{name: change["new"]})
        return handler

    def own(self, *objects) -> None:
        """Close these with the view: widgets that are not in its layout (a ``jslink``'s link, say), or anything else
        with a ``close()``."""
        self._owned.extend(objects)

    def update(self, **changes) -> bool:
        """Apply changes to the controller and refresh the image; return whether they were accepted.

        If the controller refuses a value (a clear ``ValueError``/``TypeError``) or fails in any other way while
        setting or drawing, the message line shows the error, the controller is rolled back to its last good state and
        the image keeps the last good picture. A closed view raises ``RuntimeError``.
        """
        if self.closed:
            raise RuntimeError(CLOSED_MESSAGE)
        checkpoint = self.controller._checkpoint()
        accepted = False
        try:
            self.controller.set(**changes)  # rolls itself back if it fails
            accepted = True
            picture = self.controller.png()
        except Exception as exc:  # noqa: BLE001 - shown to the learner instead of a traceback in a callback
            if accepted:  # the new state could not be drawn: go back to the last one that could
                self.controller._restore(checkpoint, redraw=True, error=exc)
            self.message.value = f"<span style='color:#b00'>⚠ {html.escape(self._describe(exc))}</span>"
            return False
        self.message.value = ""
        self.image.value = picture
        return True

    @staticmethod
    def _describe(exc: Exception) -> str:
        """The message line's text: the controller's own message for a refused value, the error's type otherwise."""
        if isinstance(exc, (ValueError, TypeError, KeyError)):
            return str(exc.args[0] if exc.args else exc)
        return f"{type(exc).__name__}: {exc} (the widget kept its last good state)"

    def _widgets(self) -> list[widgets.Widget]:
        """Every ipywidget of the view, each once: the layout tree, the controls, what it owns, and the widgets these
        hold in their synced traits (each widget's ``layout`` and ``style`` are widgets of their own)."""
        found: dict[int, widgets.Widget] = {}
        pending = [self.box, self.image, self.message, *self.controls.values(), *self._owned]
        while pending:
            w = pending.pop()
            if not isinstance(w, widgets.Widget) or id(w) in found:
                continue
            found[id(w)] = w
            for key in w.keys:
                value = getattr(w, key, None)
                pending.extend(value if isinstance(value, (list, tuple)) else [value])
        return list(found.values())

    def close(self) -> None:
        """Close the view's ipywidgets (they leave the kernel's registry and disappear from the page), drop their
        callbacks, and release the controller's figure and data. Calling it twice does nothing."""
        if self.closed:
            return
        self.closed = True
        for w in self._widgets():
            w.unobserve_all()
            w.close()
        for obj in self._owned:
            if not isinstance(obj, widgets.Widget) and callable(getattr(obj, "close", None)):
                obj.close()
        self.image.value = b""  # a closed widget sends nothing; this only frees the last picture
        self.controller.close()

    def _repr_mimebundle_(self, **kwargs):
        if self.closed:
            return {"text/plain": f"<closed {type(self.controller).__name__} view: {CLOSED_MESSAGE}>"}
        bundle = self.box._repr_mimebundle_(**kwargs)
        bundle["image/png"] = base64.b64encode(self.controller.png()).decode("ascii")
        return bundle
