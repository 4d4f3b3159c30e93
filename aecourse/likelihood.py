"""How likely a VAE finds test images: binarization and the importance-sampled log-likelihood in nats.

A VAE with a Bernoulli decoder defines ``p(x) = E_{z ~ N(0, I)}[p(x | z)]`` for *binary* images. The ELBO is a lower
bound on ``log p(x)``; averaging ``k`` importance weights ``w = p(x | z) p(z) / q(z | x)`` with ``z ~ q(z | x)`` gives
a tighter one that rises with ``k`` towards ``log p(x)`` (Burda et al. 2015). Likelihoods are reported as a
negative log-likelihood (NLL) in nats per image, always with the binarization named: MNIST's grey images are
binarized either once (static) or afresh every time they are seen (dynamic), and the two differ by about 2 nats.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .losses import _check_vae, bernoulli_nll, kl_divergence, reparameterize
from .metrics import eval_mode, model_device
from .validation import check_images, check_model, check_positive_int


def dynamic_binarize(images: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Binary images ``x ~ Bernoulli(images)``: each pixel is 1 with probability its grey value. ``images`` are
    ``(N, 1, 28, 28)`` in ``[0, 1]``; the result has the same shape and dtype, with values 0 and 1 only."""
    images = check_images(images)
    return torch.bernoulli(images, generator=generator)


def _check_binary(x: Tensor) -> None:
    if not bool(((x == 0) | (x == 1)).all()):
        raise ValueError("a likelihood in nats needs binary images (values 0 and 1 only): binarize them first, "
                         "e.g. with aecourse.likelihood.dynamic_binarize")


def _check_ks(ks: object) -> tuple[int, ...]:
    if isinstance(ks, (int, str)) or not isinstance(ks, Sequence) or not ks:
        raise TypeError(f"ks must be a non-empty sequence of sample counts such as (1, 10, 100), got {ks!r}")
    ks = tuple(check_positive_int(k, "each k") for k in ks)
    k_max = max(ks)
    if any(k_max % k for k in ks):
        raise ValueError(f"every k must divide the largest, {k_max}, so that its estimate averages whole groups "
                         f"of the same samples; got {ks}")
    return ks


@torch.no_grad()
def log_importance_weights(model: nn.Module, x: Tensor, k: int, *, generator: torch.Generator | None = None,
                           decodes_per_step: int = 20_000) -> Tensor:
    """``log w = log p(x | z) + log N(z; 0, I) - log q(z | x)`` for ``k`` draws ``z ~ q(z | x)`` per image: ``(k, N)``.

    ``x`` is ``(N, ...)``, binary; the model has ``posterior(x) -> (mu, logvar)`` and ``decode_logits(z)``.
    Draws are decoded ``decodes_per_step`` at a time (memory stays bounded however large ``k`` is).
    """
    _check_vae(model)
    check_positive_int(k, "k")
    check_positive_int(decodes_per_step, "decodes_per_step")
    mu, logvar = model.posterior(x)
    std = torch.exp(0.5 * logvar)
    log_2pi = math.log(2 * math.pi)
    weights = []
    step = max(1, decodes_per_step // len(x))
    for start in range(0, k, step):
        draws = min(step, k - start)
        eps = torch.randn((draws, *mu.shape), generator=generator, dtype=mu.dtype, device=mu.device)
        z = mu + std * eps                                                      # (draws, N, latent_dim)
        logits = model.decode_logits(z.flatten(0, 1))                           # (draws * N, ...)
        log_px_given_z = -bernoulli_nll(logits, x.repeat(draws, *[1] * (x.ndim - 1))).view(draws, len(x))
        log_pz = -0.5 * (z.square() + log_2pi).flatten(2).sum(-1)
        log_qz = -0.5 * (eps.square() + log_2pi + logvar).flatten(2).sum(-1)
        weights.append(log_px_given_z + log_pz - log_qz)
    return torch.cat(weights)


def importance_sampled_nll(model: nn.Module, x: Tensor, ks: Sequence[int] = (1, 10, 100, 1000), *,
                           generator: torch.Generator | None = None, batch_size: int = 100) -> dict[int, Tensor]:
    """Negative log-likelihood estimates ``-log (1/k) sum_i w_i`` in nats, per image, for each ``k`` in ``ks``.

    ``x``: binary images ``(N, 1, 28, 28)`` (see :func:`dynamic_binarize`). ``max(ks)`` importance weights are
    drawn once per image (:func:`log_importance_weights`); the estimate for a smaller ``k`` (which must divide
    ``max(ks)``) averages it over the ``max(ks) / k`` disjoint groups of ``k`` of them. ``k = 1`` is the negative
    ELBO; in expectation the estimate falls with ``k`` towards ``-log p(x)`` and never below it. Returns
    ``{k: (N,) tensor}`` on the CPU; its mean over images is the test NLL.
    """
    check_model(model, trainable=False)
    _check_vae(model)
    ks = _check_ks(ks)
    check_positive_int(batch_size, "batch_size")
    device = model_device(model)
    x = check_images(x, "x", check_range=False)
    _check_binary(x)
    k_max = max(ks)
    per_k: dict[int, list[Tensor]] = {k: [] for k in ks}
    with eval_mode(model):
        for batch in x.split(batch_size):
            log_w = log_importance_weights(model, batch.to(device), k_max, generator=generator).double().cpu()
            for k in ks:
                groups = log_w.view(k_max // k, k, -1)
                per_k[k].append(-(torch.logsumexp(groups, dim=1) - math.log(k)).mean(dim=0))
    result = {k: torch.cat(values) for k, values in per_k.items()}
    if not all(torch.isfinite(values).all() for values in result.values()):
        raise FloatingPointError("the likelihood estimate holds NaN or inf: the model's weights or outputs are "
                                 "not finite")
    return result


@torch.no_grad()
def elbo_terms(model: nn.Module, x: Tensor, *, generator: torch.Generator | None = None,
               batch_size: int = 1000) -> dict[str, float]:
    """Mean per-image ``reconstruction`` (``-log p(x | z)``, one draw of z), ``kl`` and ``negative_elbo`` (their sum)
    in nats over binary images ``x`` ``(N, 1, 28, 28)``."""
    check_model(model, trainable=False)
    _check_vae(model)
    x = check_images(x, "x", check_range=False)
    _check_binary(x)
    device = model_device(model)
    reconstruction, kl = [], []
    with eval_mode(model):
        for batch in x.split(batch_size):
            batch = batch.to(device)
            mu, logvar = model.posterior(batch)
            z = reparameterize(mu, logvar, generator)
            reconstruction.append(bernoulli_nll(model.decode_logits(z), batch).double().cpu())
            kl.append(kl_divergence(mu, logvar).double().cpu())
    rec, kl_ = torch.cat(reconstruction).mean().item(), torch.cat(kl).mean().item()
    return {"reconstruction": rec, "kl": kl_, "negative_elbo": rec + kl_}
