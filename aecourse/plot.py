"""Figures the chapters share: a grid of images, training curves, and the latent-space explorer.

matplotlib is imported inside the functions that draw, so ``import aecourse`` stays fast for code that only trains.
"""
from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from .metrics import eval_mode, model_device
from .train import History
from .validation import check_images, check_positive_int

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def _pyplot():
    import matplotlib.pyplot as plt
    return plt


def _check_ax(ax: object) -> None:
    from matplotlib.axes import Axes
    if ax is not None and not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes (e.g. from plt.subplots()) or None, got {type(ax).__name__}")


def _check_title(title: object) -> None:
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a string or None, got {type(title).__name__}")


def tile(images: Tensor, nrow: int = 8, padding: int = 2, pad_value: float = 1.0) -> Tensor:
    """Lay ``images`` ``(N, C, H, W)`` out in rows of ``nrow``, ``padding`` pixels of ``pad_value`` around each.

    Returns one image ``(C, rows * (H + padding) + padding, nrow' * (W + padding) + padding)`` with
    ``nrow' = min(nrow, N)``; the last row is filled up with ``pad_value``.
    """
    check_positive_int(nrow, "nrow")
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be a non-negative int, got {padding!r}")
    n, channels, height, width = images.shape
    columns, rows = min(nrow, n), math.ceil(n / nrow)
    grid = images.new_full((channels, rows * (height + padding) + padding, columns * (width + padding) + padding),
                           pad_value)
    for i, image in enumerate(images):
        top, left = padding + (i // columns) * (height + padding), padding + (i % columns) * (width + padding)
        grid[:, top:top + height, left:left + width] = image
    return grid


def image_grid(images: Tensor, *, nrow: int = 8, ax: Axes | None = None, title: str | None = None,
               padding: int = 2) -> Axes:
    """Show ``images`` ``(N, 1, 28, 28)`` with values in ``[0, 1]`` as a grid, ``nrow`` images per row.

    Pixels are drawn as they are (no rescaling), so a grey level means the same on every figure.
    """
    check_images(images)
    _check_ax(ax)
    _check_title(title)
    grid = tile(images.detach().float().cpu(), nrow=nrow, padding=padding, pad_value=1.0)
    if ax is None:
        rows = -(-len(images) // nrow)
        _, ax = _pyplot().subplots(figsize=(min(nrow, len(images)) * 0.8, rows * 0.8 + (0.3 if title else 0)))
    ax.imshow(grid[0].numpy(), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def plot_history(history: History, *, ax: Axes | None = None, term: str = "loss", log_scale: bool = False,
                 label: str = "") -> Axes:
    """Training (solid) and validation (dashed) curves of ``term`` against epoch."""
    if not isinstance(history, History):
        raise TypeError(f"history must be the History that fit returned, got {type(history).__name__}")
    _check_ax(ax)
    if not isinstance(label, str):
        raise TypeError(f"label must be a string, got {type(label).__name__}")
    if term not in history.train:
        raise ValueError(f"history has no term {term!r}; it has {sorted(history.train)}")
    if ax is None:
        _, ax = _pyplot().subplots(figsize=(5, 3.2))
    epochs = range(1, history.epochs + 1)
    prefix = f"{label} " if label else ""
    (line,) = ax.plot(epochs, history.train[term], label=f"{prefix}train")
    if term in history.val:
        ax.plot(epochs, history.val[term], "--", color=line.get_color(), label=f"{prefix}validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel(term)
    if log_scale:
        ax.set_yscale("log")
    ax.legend()
    return ax


def compare_images(rows: dict[str, Tensor], *, ax: Axes | None = None) -> Axes:
    """Rows of equally many images, one row per entry (e.g. originals above reconstructions), labelled."""
    if not isinstance(rows, dict):
        raise TypeError(f"rows must be a dict of label -> images, got {type(rows).__name__}")
    if not rows:
        raise ValueError("compare_images needs at least one row")
    _check_ax(ax)
    lengths = {name: len(check_images(images, name)) for name, images in rows.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"every row needs the same number of images, got {lengths}")
    n = next(iter(lengths.values()))
    if ax is None:
        _, ax = _pyplot().subplots(figsize=(n * 0.8, len(rows) * 0.85))
    image_grid(torch.cat([images.detach().cpu() for images in rows.values()]), nrow=n, ax=ax)
    step = 28 + 2  # image plus padding, in grid pixels
    ax.set_axis_on()
    ax.set_xticks([])
    ax.set_yticks([2 + step * i + 14 for i in range(len(rows))], list(rows))
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return ax


def _latent_limits(codes: Tensor) -> list[tuple[float, float]]:
    """The 1st to 99th percentile of each of the two code dimensions of ``codes`` ``(N, 2)``."""
    if not isinstance(codes, Tensor) or codes.ndim != 2 or codes.shape[1] != 2:
        shape = tuple(codes.shape) if isinstance(codes, Tensor) else type(codes).__name__
        raise ValueError(f"codes must be a tensor of shape (N, 2) (a 2-d latent space), got {shape}")
    if not codes.is_floating_point():
        raise TypeError(f"codes must be a floating-point tensor, got {codes.dtype}")
    finite = torch.isfinite(codes).all(dim=1)
    if not bool(finite.all()):
        raise ValueError(f"{int((~finite).sum())} of the {len(codes)} codes hold NaN or inf (a diverged encoder?); "
                         "the latent plane needs finite codes")
    low, high = torch.quantile(codes.detach().float().cpu(), torch.tensor([0.01, 0.99]), dim=0)
    limits = [(low[i].item(), high[i].item()) for i in range(2)]
    for i, (lo, hi) in enumerate(limits):
        if not hi > lo:
            raise ValueError(f"code dimension z{i + 1} spans no range (1st and 99th percentile both {lo:.4g}): "
                             "the encoder maps almost every image to the same value; there is no plane to explore")
    return limits


def _check_decoder(model: object) -> None:
    if not isinstance(model, nn.Module) or not callable(getattr(model, "decode", None)):
        raise TypeError(f"{type(model).__name__} has no decode(z) method; pass an aecourse autoencoder")


def _decode(model: nn.Module, z: Tensor) -> Tensor:
    _check_decoder(model)
    with eval_mode(model):
        images = model.decode(z.to(model_device(model))).cpu()
    if not bool(torch.isfinite(images).all()):
        raise FloatingPointError("the decoder returned NaN or inf for finite codes: its weights are not finite")
    return images


def decode_latent_grid(model: nn.Module, codes: Tensor, steps: int = 15) -> Tensor:
    """Decode a ``steps x steps`` grid of points spanning the 2-d codes ``(N, 2)`` (1st to 99th percentile).

    Returns ``(steps * steps, 1, 28, 28)`` images in rows of ``steps``: left to right ``z1`` grows, top to bottom
    ``z2`` falls, as on a scatter plot of the codes.
    """
    check_positive_int(steps, "steps")
    _check_decoder(model)
    (low1, high1), (low2, high2) = _latent_limits(codes)
    z1 = torch.linspace(low1, high1, steps)
    z2 = torch.linspace(high2, low2, steps)
    grid = torch.stack(torch.meshgrid(z2, z1, indexing="ij")[::-1], dim=-1).reshape(-1, 2)
    return _decode(model, grid)


def plot_latent_plane(model: nn.Module, codes: Tensor, steps: int = 15, *, ax: Axes | None = None,
                      title: str | None = None) -> Axes:
    """The static latent explorer: :func:`decode_latent_grid` drawn as one picture."""
    _check_ax(ax)
    images = decode_latent_grid(model, codes, steps)
    if ax is None:
        _, ax = _pyplot().subplots(figsize=(6, 6))
    image_grid(images, nrow=steps, ax=ax, title=title, padding=0)
    (low1, high1), (low2, high2) = _latent_limits(codes)
    ax.set_axis_on()
    ax.set_xticks([0, 28 * steps - 1], [f"{low1:.1f}", f"{high1:.1f}"])
    ax.set_yticks([0, 28 * steps - 1], [f"{high2:.1f}", f"{low2:.1f}"])
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    return ax


def latent_explorer(model: nn.Module, codes: Tensor, *, scale: int = 5):
    """Two sliders over a 2-d latent space and the digit the decoder draws there, updated live (ipywidgets).

    The sliders span the codes ``(N, 2)`` of real images (1st to 99th percentile). Works in Jupyter and Colab;
    a static page cannot run it, so chapters show :func:`plot_latent_plane` beside it.
    """
    import ipywidgets as widgets
    from PIL import Image

    check_positive_int(scale, "scale")
    _check_decoder(model)
    limits = _latent_limits(codes)
    sliders = [widgets.FloatSlider(value=(low + high) / 2, min=low, max=high, step=(high - low) / 200,
                                   description=f"z{i + 1}", continuous_update=True, readout_format=".2f")
               for i, (low, high) in enumerate(limits)]
    picture = widgets.Image(format="png", width=28 * scale, height=28 * scale)

    def draw(_change: object = None) -> None:
        z = torch.tensor([[slider.value for slider in sliders]])
        pixels = (_decode(model, z)[0, 0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()
        buffer = io.BytesIO()
        Image.fromarray(pixels).resize((28 * scale, 28 * scale), Image.NEAREST).save(buffer, format="png")
        picture.value = buffer.getvalue()

    for slider in sliders:
        slider.observe(draw, names="value")
    draw()
    return widgets.HBox([widgets.VBox(sliders), picture])
