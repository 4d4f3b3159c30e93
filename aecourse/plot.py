"""Figures the chapters share: a grid of images and training curves."""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from torch import Tensor
from torchvision.utils import make_grid

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
