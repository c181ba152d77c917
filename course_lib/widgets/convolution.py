"""Convolution, seen sliding (notebook 09): the convolution explorer and the feature-map explorer.

**Convolution explorer.** Left: the (zero-padded) input image with the kernel's window at the chosen output position.
Middle: the kernel's weights, written out. Right: the whole output of :func:`course_lib.cnn.conv2d`, its size from
the formula ``floor((n + 2p - k) / s) + 1``, and the output pixel that this window produces. Changing the stride or
the padding changes the output's size; moving ``position`` slides the window.

**Feature-map explorer.** A trained network's activations after each chosen layer, for one image: up to 16 channels
at a time, each as a small picture, with the image itself on the left.
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.patches import Rectangle

from .. import cnn
from .base import FigureController, WidgetView, check_choice, check_integer

KERNELS = {  # 3 x 3 kernels, as the cross-correlation of every deep-learning library applies them
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "blur (box)": [[1 / 9] * 3] * 3,
    "edges: vertical (Sobel x)": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "edges: horizontal (Sobel y)": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "edges: all directions (Laplacian)": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
}
MAX_STRIDE, MAX_PADDING = 3, 2
MAX_SIDE = 128  # larger images are refused: the explorer draws every pixel


def _as_image(image) -> np.ndarray:
    """A 2-D grey image (array or tensor, any real dtype) as float64 in [0, 1] (scaled by its own range)."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    try:
        array = np.asarray(image, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"image must be a 2-D array or tensor of grey values, got {type(image).__name__}") from None
    if array.ndim == 3 and 1 in (array.shape[0], array.shape[-1]):
        array = array.reshape(array.shape[1:] if array.shape[0] == 1 else array.shape[:2])
    if array.ndim != 2 or min(array.shape) < 3 or max(array.shape) > MAX_SIDE:
        raise ValueError(f"image must be one grey picture of shape (H, W), 3 <= H, W <= {MAX_SIDE}, got shape "
                         f"{array.shape} (a colour photo: average its channels; a large one: downsample it first)")
    if not np.isfinite(array).all():
        raise ValueError("image holds NaN or infinite values")
    low, high = array.min(), array.max()
    return (array - low) / (high - low) if high > low else np.zeros_like(array)


class ConvolutionExplorer(FigureController):
    """The convolution explorer's controller (see the module docstring)."""

    def __init__(self, image, kernel: str = "edges: vertical (Sobel x)", stride: int = 1, padding: int = 1,
                 position: int = 0):
        super().__init__(figsize=(12, 4.2))
        self.image = _as_image(image)
        self.ax_in, self.ax_k, self.ax_out = self.fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 0.45, 1]})
        self.in_im = self.ax_in.imshow(np.zeros((3, 3)), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        self.k_im = self.ax_k.imshow(np.zeros((3, 3)), cmap="RdBu_r", interpolation="nearest")
        self.k_text = [[self.ax_k.text(v, u, "", ha="center", va="center", fontsize=10) for v in range(3)]
                       for u in range(3)]
        self.out_im = self.ax_out.imshow(np.zeros((3, 3)), cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
        bar = self.fig.colorbar(self.out_im, ax=self.ax_out, fraction=0.046, pad=0.04)
        bar.set_label("output / max |output|")  # a fixed scale: the colour bar never has to be redrawn
        H, W = self.image.shape  # fixed axes, large enough for any padding and stride: only the artists change
        self.ax_in.set(xlim=(-0.5, W + 2 * MAX_PADDING - 0.5), ylim=(H + 2 * MAX_PADDING - 0.5, -0.5))
        self.ax_out.set(xlim=(-0.5, W + 2 * MAX_PADDING - 2.5), ylim=(H + 2 * MAX_PADDING - 2.5, -0.5))
        self.window = Rectangle((0, 0), 3, 3, fill=False, ec="C1", lw=2.5)
        self.marker = Rectangle((0, 0), 1, 1, fill=False, ec="C1", lw=2.5)
        self.ax_in.add_patch(self.window)
        self.ax_out.add_patch(self.marker)
        self.ax_k.set(xticks=[], yticks=[], title="kernel (3 x 3)")
        self.readout = self.fig.text(0.5, 0.02, "", ha="center", fontsize=10, family="monospace")
        self.fig.subplots_adjust(left=0.03, right=0.93, bottom=0.14, top=0.88, wspace=0.25)
        # everything that changes is drawn over a fixed background (blitting): no full redraw on any control
        self.animate(self.in_im, self.k_im, *(t for row in self.k_text for t in row), self.out_im, self.ax_in.title,
                     self.ax_out.title, self.window, self.marker, self.readout)
        self._drawn = None  # (kernel, stride, padding) whose images are drawn
        self.state = {"kernel": kernel, "stride": stride, "padding": padding, "position": position}
        self._validate(self.state)
        self._apply()

    def output_shape(self, stride: int | None = None, padding: int | None = None) -> tuple[int, int]:
        """``(H_out, W_out)`` from the formula, for the current (or the given) stride and padding."""
        s = self.state["stride"] if stride is None else stride
        p = self.state["padding"] if padding is None else padding
        H, W = self.image.shape
        return cnn.output_size(H, 3, s, p), cnn.output_size(W, 3, s, p)

    def _validate(self, state: dict) -> None:
        check_choice("kernel", state["kernel"], KERNELS, "kernel")
        check_integer("stride", state["stride"], 1, MAX_STRIDE)
        check_integer("padding", state["padding"], 0, MAX_PADDING)
        H_out, W_out = self.output_shape(state["stride"], state["padding"])
        check_integer("position", state["position"], 0, H_out * W_out - 1)

    def _forget_drawn(self) -> None:
        self._drawn = None

    def _apply(self) -> None:
        kernel, s, p, position = (self.state[k] for k in ("kernel", "stride", "padding", "position"))
        weights = torch.tensor(KERNELS[kernel], dtype=torch.float64)
        if self._drawn != (kernel, s, p):  # new images: redraw the background
            x = torch.from_numpy(self.image)[None, None]
            self.output = cnn.conv2d(x, weights[None, None], stride=s, padding=p)[0, 0].numpy()
            self.padded = np.pad(self.image, p)
            self.in_im.set_data(self.padded)
            self.in_im.set_extent((-0.5, self.padded.shape[1] - 0.5, self.padded.shape[0] - 0.5, -0.5))
            limit = weights.abs().max().item()
            self.k_im.set_data(weights.numpy())
            self.k_im.set_clim(-limit, limit)
            for u in range(3):
                for v in range(3):
                    w = weights[u, v].item()
                    self.k_text[u][v].set_text(f"{w:.2g}")
                    self.k_text[u][v].set_color("white" if abs(w) > 0.6 * limit else "black")  # legible on dark
            self.bound = float(np.abs(self.output).max()) or 1.0
            self.out_im.set_data(self.output / self.bound)
            self.out_im.set_extent((-0.5, self.output.shape[1] - 0.5, self.output.shape[0] - 0.5, -0.5))
            H, W = self.image.shape
            self.ax_in.set_title(f"input {H} x {W}, padded by {p} -> {H + 2 * p} x {W + 2 * p}", fontsize=10)
            self.ax_out.set_title(f"output {self.output.shape[0]} x {self.output.shape[1]} "
                                  f"= floor(({H} + 2*{p} - 3) / {s}) + 1", fontsize=10)
            self._drawn = (kernel, s, p)
        H_out, W_out = self.output.shape
        i, j = divmod(position, W_out)
        self.window.set_xy((j * s - 0.5, i * s - 0.5))  # the window's top-left corner in the padded image
        self.marker.set_xy((j - 0.5, i - 0.5))
        self.value = float(self.output[i, j])  # conv2d's sum(window * kernel) for this window
        self.readout.set_text(f"output[{i}, {j}] = sum(window * kernel) = {self.value:+.3f}  (max |output| = "
                              f"{self.bound:.2f});  window: rows {i * s}..{i * s + 2}, columns {j * s}..{j * s + 2} "
                              "of the padded input")


def convolution_explorer(image, kernel: str = "edges: vertical (Sobel x)", stride: int = 1, padding: int = 1,
                         position: int = 0) -> WidgetView:
    """The widget: a kernel dropdown, stride and padding sliders, and a position slider with Play."""
    controller = ConvolutionExplorer(image, kernel, stride, padding, position)
    H_out, W_out = controller.output_shape()
    controls = {
        "kernel": widgets.Dropdown(options=list(KERNELS), value=kernel, description="kernel"),
        "position": widgets.IntSlider(value=position, min=0, max=H_out * W_out - 1, description="position"),
    }
    stride_slider = widgets.IntSlider(value=stride, min=1, max=MAX_STRIDE, description="stride")
    padding_slider = widgets.IntSlider(value=padding, min=0, max=MAX_PADDING, description="padding")
    play = widgets.Play(value=position, min=0, max=H_out * W_out - 1, interval=150, description="slide")
    link = widgets.jslink((play, "value"), (controls["position"], "value"))
    view = WidgetView(controller, controls, extras=[play, stride_slider, padding_slider])
    view.own(link)

    def reshape(change):
        # a new stride or padding changes how many output positions exist: keep the window where it is if it still
        # exists, else move it to the last one, and change both in one step so the controller never sees a bad pair
        s, p = stride_slider.value, padding_slider.value
        H_out, W_out = controller.output_shape(s, p)
        last = H_out * W_out - 1
        position = min(controller.state["position"], last)
        if view.update(stride=s, padding=p, position=position):
            controls["position"].max = play.max = last
            controls["position"].value = position

    stride_slider.observe(reshape, names="value")
    padding_slider.observe(reshape, names="value")
    return view


class FeatureMapExplorer(FigureController):
    """The feature-map explorer's controller: ``layers`` maps a name to a submodule of ``model``; for the chosen image
    and layer, the submodule's output ``(C, h, w)`` is shown as up to 16 channel pictures from ``first_channel``."""

    GRID = 4  # 4 x 4 channels at a time

    def __init__(self, model: torch.nn.Module, images: torch.Tensor, layers: dict, image: int = 0,
                 layer: str | None = None, first_channel: int = 0):
        super().__init__(figsize=(11, 5))
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        if not isinstance(images, torch.Tensor) or images.dim() != 4 or len(images) == 0:
            raise ValueError("images must be a non-empty batch of shape (N, C, H, W), got "
                             f"{tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__}")
        if not isinstance(layers, dict) or not layers:
            raise ValueError("layers must map names to submodules of the model, e.g. {'conv 1': model.features[0]}")
        submodules = {id(m) for m in model.modules()}
        strangers = [name for name, m in layers.items() if id(m) not in submodules]
        if strangers:
            raise ValueError(f"layers {strangers} are not submodules of this model")
        self.model, self.images, self.layers = model, images, layers
        self.maps = self._record()  # layer -> (N, C, h, w), computed once
        gs = self.fig.add_gridspec(self.GRID, self.GRID + 2, width_ratios=[2.2, 0.3] + [1] * self.GRID)
        self.ax_image = self.fig.add_subplot(gs[:, 0])
        self.image_im = self.ax_image.imshow(np.zeros((2, 2)), cmap="gray", interpolation="nearest")
        self.ax_image.set(xticks=[], yticks=[])
        self.axes, self.ims = [], []
        for k in range(self.GRID * self.GRID):
            ax = self.fig.add_subplot(gs[k // self.GRID, 2 + k % self.GRID])
            ax.set(xticks=[], yticks=[])
            self.axes.append(ax)
            self.ims.append(ax.imshow(np.zeros((2, 2)), cmap="viridis", interpolation="nearest"))
        self.fig.subplots_adjust(left=0.02, right=0.98, top=0.9, bottom=0.04, hspace=0.35, wspace=0.1)
        self.title = self.fig.suptitle("")
        self.animate(self.image_im, *self.ims, self.title)  # the channel titles change with the page only
        self._drawn = None
        layer = next(iter(layers)) if layer is None else layer
        self.state = {"image": image, "layer": layer, "first_channel": first_channel}
        self._validate(self.state)
        self._apply()

    def _record(self) -> dict:
        outputs, hooks = {}, []
        for name, module in self.layers.items():
            hooks.append(module.register_forward_hook(
                lambda m, i, out, name=name: outputs.__setitem__(name, out.detach().cpu())))
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                self.model(self.images)
        finally:
            self.model.train(was_training)
            for hook in hooks:
                hook.remove()
        for name, out in outputs.items():
            if out.dim() != 4:
                raise ValueError(f"layer {name!r} outputs shape {tuple(out.shape)}, not feature maps (N, C, h, w)")
        return outputs

    def _validate(self, state: dict) -> None:
        check_integer("image", state["image"], 0, len(self.images) - 1)
        check_choice("layer", state["layer"], self.layers, "layer")
        channels = self.maps[state["layer"]].shape[1]
        check_integer("first_channel", state["first_channel"], 0, channels - 1)

    def _forget_drawn(self) -> None:
        self._drawn = None

    def _apply(self) -> None:
        n, layer, first = self.state["image"], self.state["layer"], self.state["first_channel"]
        maps = self.maps[layer][n]  # (C, h, w)
        picture = self.images[n].detach().cpu().float().mean(0).numpy()
        self.image_im.set_data(picture)
        self.image_im.set_clim(picture.min(), picture.max())
        titles = []
        for k, (ax, im) in enumerate(zip(self.axes, self.ims)):
            c = first + k
            if c < maps.shape[0]:
                m = maps[c].numpy()
                im.set_data(m)
                im.set_extent((-0.5, m.shape[1] - 0.5, m.shape[0] - 0.5, -0.5))
                im.set_clim(m.min(), m.max() if m.max() > m.min() else m.min() + 1e-6)
                titles.append(f"channel {c}")
            else:  # fewer channels than pictures: leave the frame empty
                im.set_data(np.zeros((1, 1)))
                im.set_clim(0, 1)
                titles.append("")
        if self._drawn != (layer, first):  # a new page of channels: new titles, drawn into the background
            for ax, title in zip(self.axes, titles):
                ax.set_title(title, fontsize=8)
            self.background_stale = True
            self._drawn = (layer, first)
        shown = min(self.GRID * self.GRID, maps.shape[0] - first)
        self.title.set_text(f"image {n}, layer {layer!r}: {maps.shape[0]} channels of {maps.shape[1]} x "
                            f"{maps.shape[2]}; channels {first}..{first + shown - 1} (yellow = large)")
        # (every picture is an animated artist: drawn over the fixed frames, no full redraw)


def feature_map_explorer(model: torch.nn.Module, images: torch.Tensor, layers: dict) -> WidgetView:
    """The widget: an image slider, a layer dropdown and a slider for the first channel shown."""
    controller = FeatureMapExplorer(model, images, layers)
    first_layer = next(iter(layers))
    controls = {"image": widgets.IntSlider(value=0, min=0, max=len(images) - 1, description="image")}
    layer_menu = widgets.Dropdown(options=list(layers), value=first_layer, description="layer")
    channel_slider = widgets.IntSlider(value=0, min=0, max=controller.maps[first_layer].shape[1] - 1,
                                       description="first channel")
    view = WidgetView(controller, controls, extras=[layer_menu, channel_slider])

    def new_layer(change):  # each layer has its own number of channels: change both in one step
        last = controller.maps[change["new"]].shape[1] - 1
        first = channel_slider.value if channel_slider.value <= last else 0
        if view.update(layer=change["new"], first_channel=first):
            channel_slider.value = first
            channel_slider.max = last

    def new_channel(change):
        view.update(first_channel=change["new"])

    layer_menu.observe(new_layer, names="value")
    channel_slider.observe(new_channel, names="value")
    return view
