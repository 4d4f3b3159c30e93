"""The importance-sampled likelihood against log p(x) computed exactly, on a VAE with a one-dimensional latent."""
import math

import pytest
import torch
from torch import nn

from aecourse import likelihood
from aecourse.losses import bernoulli_nll


class OneDimensionalVAE(nn.Module):
    """p(x | z): pixel logits b + w * tanh(z) with z a single number, so log p(x) = log ∫ p(x | z) N(z; 0, 1) dz can
    be computed by quadrature. q(z | x): a fixed linear guess, deliberately not the true posterior."""

    code_shape = (1,)

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.b = nn.Parameter(torch.randn(1, 1, 28, 28, generator=generator, dtype=torch.float64))
        self.w = nn.Parameter(0.12 * torch.randn(1, 1, 28, 28, generator=generator, dtype=torch.float64))
        self.v = nn.Parameter(0.002 * torch.randn(784, 1, generator=generator, dtype=torch.float64))

    def posterior(self, x):
        mu = (x.flatten(1) - 0.5) @ self.v
        return mu, torch.full_like(mu, math.log(0.8))

    def decode_logits(self, z):
        return self.b + self.w * torch.tanh(z).view(-1, 1, 1, 1)


def exact_log_likelihood(model, x):
    """log p(x) per image by the trapezoid rule on a fine grid of z."""
    z = torch.linspace(-12, 12, 8001, dtype=torch.float64)
    log_prior = -0.5 * (z.square() + math.log(2 * math.pi))
    with torch.no_grad():
        log_joint = torch.stack([-bernoulli_nll(model.decode_logits(z), image.expand(len(z), -1, -1, -1))
                                 + log_prior for image in x])             # (N, grid)
    dz = z[1] - z[0]
    return torch.logsumexp(log_joint, dim=1) + torch.log(dz)   # a Riemann sum: the integrand is smooth and decays


@pytest.fixture(scope="module")
def setting():
    model = OneDimensionalVAE()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        x = torch.bernoulli(torch.sigmoid(model.decode_logits(torch.randn(6, 1, generator=generator, dtype=torch.float64))),
                            generator=generator)
    estimates = likelihood.importance_sampled_nll(model, x, ks=(1, 10, 100, 1000, 20_000),
                                                  generator=torch.Generator().manual_seed(2))
    return model, x, estimates, -exact_log_likelihood(model, x)


def test_many_samples_recover_the_exact_likelihood(setting):
    _, _, estimates, exact_nll = setting
    torch.testing.assert_close(estimates[20_000], exact_nll, atol=0.02, rtol=0)


def test_estimates_from_the_same_draws_fall_with_k_and_stay_above_the_exact_nll(setting):
    _, _, estimates, exact_nll = setting
    ks = sorted(estimates)
    for smaller, larger in zip(ks, ks[1:]):
        assert (estimates[larger] <= estimates[smaller] + 1e-3).all(), (smaller, larger)
    for k in ks:
        assert (estimates[k] >= exact_nll - 0.02).all(), k
    assert (estimates[1] - exact_nll).min() > 0.05   # the ELBO is a strictly looser bound for this q


def test_k_of_one_is_the_negative_elbo(setting):
    """k = 1 averages single-sample bounds: the ELBO, which elbo_terms estimates independently, and which
    quadrature over q gives exactly."""
    model, x, estimates, _ = setting
    z = torch.linspace(-10, 10, 4001, dtype=torch.float64)
    with torch.no_grad():
        mu, logvar = model.posterior(x)
        exact = []
        for image, m, lv in zip(x, mu, logvar):
            q = torch.exp(-0.5 * ((z - m) ** 2 / lv.exp() + lv + math.log(2 * math.pi)))
            log_w = (-bernoulli_nll(model.decode_logits(z), image.expand(len(z), -1, -1, -1))
                     - 0.5 * (z.square() + math.log(2 * math.pi))
                     + 0.5 * ((z - m) ** 2 / lv.exp() + lv + math.log(2 * math.pi)))
            exact.append(-(q * log_w).sum() * (z[1] - z[0]))
    torch.testing.assert_close(estimates[1], torch.stack(exact), atol=0.05, rtol=0)
    terms = likelihood.elbo_terms(model, x.repeat(500, 1, 1, 1), generator=torch.Generator().manual_seed(3))
    assert terms["negative_elbo"] == pytest.approx(torch.stack(exact).mean().item(), abs=0.1)
    assert terms["negative_elbo"] == pytest.approx(terms["reconstruction"] + terms["kl"])


def test_log_importance_weights_do_not_depend_on_the_chunking():
    model = OneDimensionalVAE()
    x = torch.bernoulli(torch.full((3, 1, 28, 28), 0.3, dtype=torch.float64), generator=torch.Generator().manual_seed(0))
    one = likelihood.log_importance_weights(model, x, 50, generator=torch.Generator().manual_seed(5))
    many = likelihood.log_importance_weights(model, x, 50, generator=torch.Generator().manual_seed(5),
                                             decodes_per_step=7)
    assert one.shape == (50, 3)
    # the same draws in a different order of generation would differ; equal chunk boundaries are not assumed
    assert torch.allclose(one.mean(0), many.mean(0), atol=1.0)


def test_dynamic_binarization_keeps_grey_levels_on_average():
    grey = torch.full((2000, 1, 28, 28), 0.3)
    binary = likelihood.dynamic_binarize(grey, generator=torch.Generator().manual_seed(0))
    assert set(binary.unique().tolist()) == {0.0, 1.0}
    assert binary.mean().item() == pytest.approx(0.3, abs=0.002)


def test_independent_draws_fall_with_k():
    """Estimates for different k from the same draws are ordered by construction (a group's logmeanexp is at least
    the mean of its parts' logs); from independent pools of draws the order is what the theory predicts."""
    model = OneDimensionalVAE()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        x = torch.bernoulli(torch.sigmoid(model.decode_logits(torch.randn(6, 1, generator=generator,
                                                                          dtype=torch.float64))), generator=generator)
    means = [likelihood.importance_sampled_nll(model, x, ks=(k, 4000), generator=torch.Generator().manual_seed(k))[k]
             .mean().item() for k in (1, 4, 40)]
    exact = -exact_log_likelihood(model, x).mean().item()
    assert means[0] > means[1] > means[2] > exact - 0.01
