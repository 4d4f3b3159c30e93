"""Losses, each summed over the pixels (or latent dimensions) of one image and averaged over images.

Summing over pixels keeps the numbers comparable with the literature (Hinton & Salakhutdinov 2006 report
squared error per image) and keeps a VAE's reconstruction and KL terms on the same scale: a per-pixel
mean would silently divide the reconstruction term by 784 relative to the KL term.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .validation import check_choice, check_non_negative_number

RECONSTRUCTION_KINDS = ("mse", "bce", "l1")
LossFn = Callable[[nn.Module, Tensor], "Tensor | dict[str, Tensor]"]


def graph_safe(loss_fn: LossFn) -> LossFn:
    """Mark ``loss_fn`` as safe to record once and replay as a CUDA graph, and return it.

    Safe means: for batches of one size, every call launches the same GPU work; it reads no tensor's value on the
    host (no ``.item()``, ``bool(...)``, ``print``), draws random numbers only from torch's default generator, and
    keeps no Python state that changes from one call to the next (a step counter, a schedule) once the first few
    batches have passed. On a GPU, :func:`aecourse.fit` then replays each training step from one recorded graph,
    one launch instead of dozens: the course's small models train many times faster. The losses this package
    builds are marked; a loss that is not marked trains step by step, as before.
    """
    if not callable(loss_fn):
        raise TypeError(f"graph_safe marks a loss function, got {type(loss_fn).__name__}")
    loss_fn.graph_safe = True
    return loss_fn


def reconstruction_error(x_hat: Tensor, x: Tensor, kind: str = "mse") -> Tensor:
    """Per-image error ``(N,)`` between reconstructions and targets of the same shape ``(N, ...)``.

    "mse": sum of squared differences; "l1": sum of absolute differences; "bce": sum of binary
    cross-entropies, which needs ``x_hat`` in ``[0, 1]`` (a sigmoid output) and targets in ``[0, 1]``.
    """
    _check_pair(x_hat, x, kind)
    if kind == "bce":
        _check_probabilities(x_hat)
    return _per_image(x_hat, x, kind)


def _check_pair(x_hat: object, x: object, kind: str) -> None:
    """Kind, types and shapes: checks that read no values (no GPU sync), cheap enough for every batch."""
    check_choice(kind, "reconstruction loss", RECONSTRUCTION_KINDS)
    for name, value in (("x_hat", x_hat), ("x", x)):
        if not isinstance(value, Tensor) or not value.is_floating_point():
            what = value.dtype if isinstance(value, Tensor) else type(value).__name__
            raise TypeError(f"{name} must be a floating-point torch.Tensor, got {what}")
    if x_hat.shape != x.shape:
        raise ValueError(f"reconstruction shape {tuple(x_hat.shape)} does not match target shape {tuple(x.shape)}")
    if x_hat.ndim < 2:
        raise ValueError(f"expected a batch (N, ...) of images, got shape {tuple(x_hat.shape)}")


def _check_probabilities(x_hat: Tensor) -> None:
    """'bce' takes the log of x_hat and 1 - x_hat: say clearly when they are not probabilities (reads every value)."""
    low, high = (float(v) for v in torch.aminmax(x_hat.detach()))
    if not (math.isfinite(low) and math.isfinite(high)):
        raise FloatingPointError("the reconstructions hold NaN or inf: the weights have diverged (try a smaller lr)")
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"'bce' needs reconstructions in [0, 1] (a sigmoid output), got min {low:.4g} and "
                         f"max {high:.4g}; use output_activation='sigmoid' or the 'mse' loss")


def _per_image(x_hat: Tensor, x: Tensor, kind: str) -> Tensor:
    if kind == "mse":
        per_pixel = (x_hat - x).square()
    elif kind == "l1":
        per_pixel = (x_hat - x).abs()
    else:
        try:
            per_pixel = F.binary_cross_entropy(x_hat, x, reduction="none")
        except RuntimeError:   # torch's CPU message names neither the loss nor the fix
            _check_probabilities(x_hat)
            raise
    return per_pixel.flatten(1).sum(dim=1)


def reconstruction_loss(kind: str = "mse") -> LossFn:
    """A ``loss_fn(model, batch)`` for :func:`aecourse.fit`: mean over the batch of ``reconstruction_error``.

    For "bce", the reconstructions' range is checked on the first batch only: reading every value on every batch
    would make a GPU wait for each step.
    """
    check_choice(kind, "reconstruction loss", RECONSTRUCTION_KINDS)
    first_batch = [True]

    def loss_fn(model: nn.Module, batch: Tensor) -> Tensor:
        x_hat = model(batch)
        _check_pair(x_hat, batch, kind)
        if kind == "bce" and first_batch[0]:
            _check_probabilities(x_hat)
            first_batch[0] = False
        return _per_image(x_hat, batch, kind).mean()

    loss_fn.__name__ = f"reconstruction_loss_{kind}"
    return graph_safe(loss_fn)


def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL( N(mu, diag(exp(logvar))) || N(0, I) ) per sample, ``(N,)``, summed over latent dimensions.

    Closed form: 0.5 * sum(mu^2 + exp(logvar) - 1 - logvar). It is 0 exactly when mu = 0 and logvar = 0.
    """
    return _kl_per_dimension(mu, logvar).sum(dim=1)


def _kl_per_dimension(mu: Tensor, logvar: Tensor) -> Tensor:
    """``(N, latent_dim)``: each image's KL to N(0, 1) in each latent dimension, the closed form's summands."""
    _check_gaussian(mu, logvar)
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).flatten(1)


def free_bits_kl(mu: Tensor, logvar: Tensor, free_nats: float) -> Tensor:
    """The free-bits KL term of a batch (Kingma et al. 2016, one group per latent dimension), a scalar:
    ``sum_j max(free_nats, mean_n KL_nj)``, with ``KL_nj`` image ``n``'s KL in dimension ``j``.

    Each dimension is charged at least ``free_nats`` whatever it carries, and only its batch-mean KL above the floor
    has a gradient, so no dimension gains by falling silent. ``mu`` and ``logvar`` are ``(N, latent_dim)``.
    """
    kl_per_dimension = _kl_per_dimension(mu, logvar)   # (N, latent_dim)
    return kl_per_dimension.mean(dim=0).clamp(min=check_non_negative_number(free_nats, "free_nats")).sum()


def _check_gaussian(mu: object, logvar: object) -> None:
    for name, value in (("mu", mu), ("logvar", logvar)):
        if not isinstance(value, Tensor) or not value.is_floating_point():
            what = value.dtype if isinstance(value, Tensor) else type(value).__name__
            raise TypeError(f"{name} must be a floating-point torch.Tensor, got {what}")
    if mu.ndim < 2:
        raise ValueError(f"mu and logvar must be batches (N, latent_dim), got shape {tuple(mu.shape)}")
    if mu.shape != logvar.shape:
        raise ValueError(f"mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} must have the same shape")


def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """One sample ``z = mu + sigma * eps`` of ``N(mu, diag(sigma^2))`` per row, ``sigma = exp(logvar / 2)``,
    ``eps ~ N(0, I)``: the noise is an input, so gradients reach ``mu`` and ``logvar`` through ``z``.
    ``mu`` and ``logvar`` are ``(N, latent_dim)``; so is ``z``."""
    _check_gaussian(mu, logvar)
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
    return mu + torch.exp(0.5 * logvar) * eps


def _check_vae(model: nn.Module) -> None:
    missing = [name for name in ("posterior", "decode_logits") if not callable(getattr(model, name, None))]
    if missing:
        raise TypeError(f"a VAE loss needs a model with posterior(x) -> (mu, logvar) and decode_logits(z) "
                        f"(the contract in aecourse.models); {type(model).__name__} has no {' or '.join(missing)}")


def bernoulli_nll(logits: Tensor, x: Tensor) -> Tensor:
    """``-log p(x | z)`` per image ``(N,)`` for a decoder that outputs Bernoulli logits of the same shape as ``x``:
    the binary cross-entropy summed over pixels, computed from the logits (exact where ``log(sigmoid)`` would
    underflow). ``x`` in ``[0, 1]``: binary images give a likelihood; grey ones the usual cross-entropy."""
    _check_pair(logits, x, "bce")
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(dim=1)


def vae_loss(beta: float = 1.0, *, binarize: bool = False) -> LossFn:
    """A ``loss_fn(model, batch)`` for :func:`aecourse.fit`: the negative ELBO with the KL term weighted by ``beta``.

    Per image: ``-log p(x | z) + beta * KL(q(z | x) || N(0, I))``, with one ``z = mu + sigma * eps`` drawn per image,
    the first term summed over pixels (:func:`bernoulli_nll`) and the second over latent dimensions
    (:func:`kl_divergence`); the loss is their mean over the batch, and the dict also carries both terms.
    ``binarize=True`` draws fresh binary images ``x ~ Bernoulli(batch)`` at every step (dynamic binarization).
    The model needs ``posterior(x) -> (mu, logvar)`` and ``decode_logits(z)`` (see :mod:`aecourse.models`).
    """
    check_non_negative_number(beta, "beta")
    if not isinstance(binarize, bool):
        raise TypeError(f"binarize must be True or False, got {binarize!r}")

    def loss_fn(model: nn.Module, batch: Tensor) -> dict[str, Tensor]:
        _check_vae(model)
        x = torch.bernoulli(batch) if binarize else batch
        mu, logvar = model.posterior(x)
        z = reparameterize(mu, logvar)
        reconstruction = bernoulli_nll(model.decode_logits(z), x)
        kl = kl_divergence(mu, logvar)
        return {"loss": (reconstruction + beta * kl).mean(), "reconstruction": reconstruction.mean(),
                "kl": kl.mean()}

    loss_fn.__name__ = f"vae_loss_beta_{beta:g}"
    return graph_safe(loss_fn)
