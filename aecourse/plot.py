"""Figures the chapters share: a grid of images, training curves, and the latent-space explorer."""
from __future__ import annotations

import io

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from torch import Tensor, nn
from torchvision.utils import make_grid

from .metrics import eval_mode
from .train import History
from .validation import check_images, check_positive_int


def image_grid(images: Tensor, *, nrow: int = 8, ax: Axes | None = None, title: str | None = None,
               padding: int = 2) -> Axes:
    """Show ``images`` ``(N, 1, 28, 28)`` with values in ``[0, 1]`` as a grid, ``nrow`` images per row.

    Pixels are drawn as they are (no rescaling), so a grey level means the same on every figure.
    """
    check_images(images)
    check_positive_int(nrow, "nrow")
    grid = make_grid(images.detach().float().cpu(), nrow=nrow, padding=padding, pad_value=1.0)
    if ax is None:
        rows = -(-len(images) // nrow)
        _, ax = plt.subplots(figsize=(min(nrow, len(images)) * 0.8, rows * 0.8 + (0.3 if title else 0)))
    ax.imshow(grid[0].numpy(), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def plot_history(history: History, *, ax: Axes | None = None, term: str = "loss", log_scale: bool = False,
                 label: str = "") -> Axes:
    """Training (solid) and validation (dashed) curves of ``term`` against epoch."""
    if term not in history.train:
        raise ValueError(f"history has no term {term!r}; it has {sorted(history.train)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
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
    if not rows:
        raise ValueError("compare_images needs at least one row")
    lengths = {name: len(check_images(images, name)) for name, images in rows.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"every row needs the same number of images, got {lengths}")
    n = next(iter(lengths.values()))
    if ax is None:
        _, ax = plt.subplots(figsize=(n * 0.8, len(rows) * 0.85))
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
    low, high = torch.quantile(codes.detach().float().cpu(), torch.tensor([0.01, 0.99]), dim=0)
    return [(low[i].item(), high[i].item()) for i in range(2)]


def _decode(model: nn.Module, z: Tensor) -> Tensor:
    if not callable(getattr(model, "decode", None)):
        raise TypeError(f"{type(model).__name__} has no decode(z) method; pass an aecourse autoencoder")
    with eval_mode(model):
        return model.decode(z.to(next(model.parameters()).device)).cpu()


def decode_latent_grid(model: nn.Module, codes: Tensor, steps: int = 15) -> Tensor:
    """Decode a ``steps x steps`` grid of points spanning the 2-d codes ``(N, 2)`` (1st to 99th percentile).

    Returns ``(steps * steps, 1, 28, 28)`` images in rows of ``steps``: left to right ``z1`` grows, top to bottom
    ``z2`` falls, as on a scatter plot of the codes.
    """
    check_positive_int(steps, "steps")
    (low1, high1), (low2, high2) = _latent_limits(codes)
    z1 = torch.linspace(low1, high1, steps)
    z2 = torch.linspace(high2, low2, steps)
    grid = torch.stack(torch.meshgrid(z2, z1, indexing="ij")[::-1], dim=-1).reshape(-1, 2)
    return _decode(model, grid)


def plot_latent_plane(model: nn.Module, codes: Tensor, steps: int = 15, *, ax: Axes | None = None,
                      title: str | None = None) -> Axes:
    """The static latent explorer: :func:`decode_latent_grid` drawn as one picture."""
    images = decode_latent_grid(model, codes, steps)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))
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
