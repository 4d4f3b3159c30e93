import pytest
import torch

import aecourse
from aecourse.losses import reconstruction_loss
from aecourse.losses import reconstruction_error
from aecourse.metrics import (evaluate, high_frequency_share, laplacian_variance, pca, pca_reconstruct,
                              pca_reconstruction_errors, reconstruction_errors)
from aecourse.models import MLPAutoencoder


def test_evaluate_matches_full_batch_loss_and_restores_mode():
    model, x = MLPAutoencoder(batchnorm=True), torch.rand(37, 1, 28, 28)
    model.train()
    result = evaluate(model, reconstruction_loss(), x, batch_size=10)
    assert model.training
    model.eval()
    with torch.no_grad():
        assert result["loss"] == pytest.approx(reconstruction_loss()(model, x).item(), rel=1e-5)


def test_reconstruction_errors_per_image():
    model, x = MLPAutoencoder(), torch.rand(23, 1, 28, 28)
    errors = reconstruction_errors(model, x, batch_size=5)
    assert errors.shape == (23,)
    with torch.no_grad():
        torch.testing.assert_close(errors, ((model(x) - x) ** 2).sum(dim=(1, 2, 3)))


def test_pca_components_are_orthonormal_and_sorted(mnist_test):
    images = mnist_test[0][:2000]
    mean, components = pca(images, 10)
    assert mean.shape == (784,) and components.shape == (10, 784)
    torch.testing.assert_close(components @ components.T, torch.eye(10), atol=1e-5, rtol=0)
    variances = ((images.flatten(1) - mean) @ components.T).var(dim=0)
    assert torch.all(variances[:-1] >= variances[1:])


def test_pca_error_falls_with_k_and_vanishes_at_full_rank():
    images = torch.rand(50, 1, 28, 28)
    errors = [pca_reconstruction_errors(images, images, k).mean().item() for k in (1, 5, 20, 49)]
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 1e-8


def test_linear_autoencoder_reaches_pca_optimum(mnist_test):
    """Baldi & Hornik (1989): a linear AE trained on squared error can do no better than PCA, and reaches it."""
    images = mnist_test[0][:1000]
    k = 4
    pca_error = pca_reconstruction_errors(images, images, k).mean().item()
    aecourse.seed_everything(0)
    model = MLPAutoencoder(latent_dim=k, hidden_dims=(), activation="identity", output_activation="identity")
    aecourse.fit(model, reconstruction_loss("mse"), images, epochs=300, batch_size=100, lr=1e-2,
                 lr_schedule="cosine", progress=False, device="cpu")
    ae_error = reconstruction_errors(model, images).mean().item()
    assert ae_error >= pca_error * (1 - 1e-4)   # PCA is optimal...
    assert ae_error <= pca_error * 1.005        # ...and the linear AE gets within 0.5% of it


def test_pca_reconstruct_slices_agree_with_pca_reconstruction_errors(mnist_test):
    train, test = mnist_test[0][:1500], mnist_test[0][1500:1700]
    mean, components = pca(train, 20)
    for k in (3, 20):
        reconstruction = pca_reconstruct(test, mean, components[:k])
        assert reconstruction.shape == test.shape and reconstruction.dtype == test.dtype
        torch.testing.assert_close(reconstruction_error(reconstruction, test),
                                   pca_reconstruction_errors(train, test, k), rtol=1e-5, atol=1e-4)


def test_pca_rejects_bad_k():
    with pytest.raises(ValueError, match="k must be at most 784"):
        pca(torch.rand(3, 1, 28, 28), 785)


def test_high_frequency_share_known_patterns():
    i = torch.arange(28)
    checkerboard = ((i[:, None] + i[None, :]) % 2 * 2 - 1).float().view(1, 1, 28, 28)
    stripes = ((i % 2) * 2 - 1).float().expand(28, 28).reshape(1, 1, 28, 28)
    assert high_frequency_share(checkerboard) == pytest.approx(1.0)
    assert high_frequency_share(stripes) == pytest.approx(1.0)
    assert high_frequency_share(torch.ones(3, 1, 28, 28)) == pytest.approx(0.0, abs=1e-12)
    assert high_frequency_share(torch.zeros(2, 1, 28, 28)) == 0.0
    # white noise spreads evenly over the 28 x 28 frequency bins: 1 - (27/28)^2 of them touch the Nyquist line,
    # and 1 - (19/28)^2 have at least 10 cycles along an axis
    noise = torch.randn(2000, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    assert high_frequency_share(noise) == pytest.approx(1 - (27 / 28) ** 2, rel=0.03)
    assert high_frequency_share(noise, min_cycles=10) == pytest.approx(1 - (19 / 28) ** 2, rel=0.02)


def test_high_frequency_share_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        high_frequency_share(torch.ones(28, 28))
    with pytest.raises(ValueError, match="float"):
        high_frequency_share(torch.ones(1, 1, 28, 28, dtype=torch.int64))
    with pytest.raises(ValueError, match="min_cycles"):
        high_frequency_share(torch.ones(1, 1, 28, 28), min_cycles=0)


def test_eval_mode_disables_grad_and_restores_the_mode_even_on_error():
    from aecourse.metrics import eval_mode
    model = MLPAutoencoder(latent_dim=2, hidden_dims=(8,), dropout=0.5).train()
    with eval_mode(model):
        assert not model.training and not torch.is_grad_enabled()
    assert model.training and torch.is_grad_enabled()
    with pytest.raises(RuntimeError):
        with eval_mode(model):
            raise RuntimeError("boom")
    assert model.training


def test_summarize_gives_mean_spread_and_range():
    from aecourse.metrics import summarize
    s = summarize([1.0, 2.0, 4.0])
    assert (s.mean, s.low, s.high, s.n) == (pytest.approx(7 / 3), 1.0, 4.0, 3)
    assert s.std == pytest.approx(float(torch.tensor([1.0, 2.0, 4.0]).std()))   # sample standard deviation
    assert str(s) == "2.33 ± 1.53 (1.00–4.00, 3 seeds)" and s.format(".1f") == "2.3 ± 1.5 (1.0–4.0, 3 seeds)"
    assert summarize([5]).std == 0.0 and "1 seed)" in str(summarize([5]))


@pytest.mark.parametrize("values,message", [([], "at least one"), ([1.0, float("nan")], "non-finite"),
                                            ([float("inf")], "non-finite")])
def test_summarize_rejects_what_it_cannot_summarize(values, message):
    from aecourse.metrics import summarize
    with pytest.raises(ValueError, match=message):
        summarize(values)


def test_latent_activity_is_the_variance_of_the_posterior_means():
    from aecourse.metrics import latent_activity

    class Fixed(torch.nn.Module):
        """mu_0 = mean brightness * 10 (moves with the image), mu_1 = 3 (never moves)."""
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.tensor(10.0))

        def posterior(self, x):
            mean = x.mean(dim=(1, 2, 3))
            mu = torch.stack([self.scale * mean, torch.full_like(mean, 3.0)], dim=1)
            return mu, torch.zeros_like(mu)

    images = torch.rand(50, 1, 28, 28)
    activity = latent_activity(Fixed(), images, batch_size=7)
    expected = (10 * images.mean(dim=(1, 2, 3))).double().var().float()
    torch.testing.assert_close(activity, torch.stack([expected, torch.tensor(0.0)]))


def test_laplacian_variance_known_values():
    flat = torch.full((1, 1, 28, 28), 0.3)
    ramp = torch.linspace(0, 1, 28).repeat(1, 1, 28, 1)                        # linear along x: Laplacian 0
    checkerboard = ((torch.arange(28)[:, None] + torch.arange(28)[None, :]) % 2).float().view(1, 1, 28, 28)
    assert laplacian_variance(flat).tolist() == [0.0]
    assert float(laplacian_variance(ramp)) == pytest.approx(0.0, abs=1e-12)
    assert float(laplacian_variance(checkerboard)) == pytest.approx(16.0)    # Laplacian +-4 on every pixel
    dot = torch.zeros(1, 1, 28, 28)
    dot[0, 0, 10, 10] = 1.0                                                   # Laplacian 4 there, -1 at 4 neighbours
    assert float(laplacian_variance(dot)) == pytest.approx((4 ** 2 + 4 * 1 ** 2) / 26 ** 2)   # the mean is 0


def test_laplacian_variance_is_per_image_and_drops_with_blur():
    images = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    sharp = laplacian_variance(images)
    assert sharp.shape == (6,) and sharp.dtype == torch.float64
    assert torch.allclose(laplacian_variance(images[2:3]), sharp[2:3])
    blurred = torch.nn.functional.avg_pool2d(images, 3, 1, 1)
    assert bool((laplacian_variance(blurred) < sharp / 4).all())
