"""Losses, each summed over the pixels (or latent dimensions) of one image and averaged over images.

Summing over pixels keeps the numbers comparable with the literature (Hinton & Salakhutdinov 2006 report
squared error per image) and keeps a VAE's reconstruction and KL terms on the same scale: a per-pixel
mean would silently divide the reconstruction term by 784 relative to the KL term.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .validation import check_choice

RECONSTRUCTION_KINDS = ("mse", "bce", "l1")
LossFn = Callable[[nn.Module, Tensor], "Tensor | dict[str, Tensor]"]


def reconstruction_error(x_hat: Tensor, x: Tensor, kind: str = "mse") -> Tensor:
    """Per-image error ``(N,)`` between reconstructions and targets of the same shape ``(N, ...)``.

    "mse": sum of squared differences; "l1": sum of absolute differences; "bce": sum of binary
    cross-entropies, which needs ``x_hat`` in ``[0, 1]`` (a sigmoid output) and targets in ``[0, 1]``.
    """
    check_choice(kind, "reconstruction loss", RECONSTRUCTION_KINDS)
    if x_hat.shape != x.shape:
        raise ValueError(f"reconstruction shape {tuple(x_hat.shape)} does not match target shape {tuple(x.shape)}")
    if kind == "mse":
        per_pixel = (x_hat - x).square()
    elif kind == "l1":
        per_pixel = (x_hat - x).abs()
    else:
        per_pixel = F.binary_cross_entropy(x_hat, x, reduction="none")
    return per_pixel.flatten(1).sum(dim=1)


def reconstruction_loss(kind: str = "mse") -> LossFn:
    """A ``loss_fn(model, batch)`` for :func:`aecourse.fit`: mean over the batch of ``reconstruction_error``."""
    check_choice(kind, "reconstruction loss", RECONSTRUCTION_KINDS)

    def loss_fn(model: nn.Module, batch: Tensor) -> Tensor:
        return reconstruction_error(model(batch), batch, kind).mean()

    loss_fn.__name__ = f"reconstruction_loss_{kind}"
    return loss_fn


def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL( N(mu, diag(exp(logvar))) || N(0, I) ) per sample, ``(N,)``, summed over latent dimensions.

    Closed form: 0.5 * sum(mu^2 + exp(logvar) - 1 - logvar). It is 0 exactly when mu = 0 and logvar = 0.
    """
    if mu.shape != logvar.shape:
        raise ValueError(f"mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} must have the same shape")
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).flatten(1).sum(dim=1)
