import pytest
import torch
import torch.nn.functional as F

from aecourse.losses import kl_divergence, reconstruction_error, reconstruction_loss
from aecourse.models import MLPAutoencoder


def test_mse_and_l1_known_values():
    x = torch.zeros(2, 1, 28, 28)
    x_hat = torch.zeros(2, 1, 28, 28)
    x_hat[0, 0, 0, :3] = torch.tensor([1.0, 2.0, -2.0])
    assert reconstruction_error(x_hat, x, "mse").tolist() == [9.0, 0.0]
    assert reconstruction_error(x_hat, x, "l1").tolist() == [5.0, 0.0]


def test_bce_matches_torch_sum_per_image():
    x, x_hat = torch.rand(3, 1, 28, 28), torch.rand(3, 1, 28, 28).clamp(0.01, 0.99)
    expected = torch.stack([F.binary_cross_entropy(x_hat[i], x[i], reduction="sum") for i in range(3)])
    torch.testing.assert_close(reconstruction_error(x_hat, x, "bce"), expected)


def test_errors_are_zero_for_perfect_reconstruction_except_bce_entropy():
    x = torch.randint(0, 2, (2, 1, 28, 28)).float()
    for kind in ("mse", "l1", "bce"):
        assert torch.allclose(reconstruction_error(x, x, kind), torch.zeros(2))


def test_shape_mismatch_and_unknown_kind():
    with pytest.raises(ValueError, match="does not match"):
        reconstruction_error(torch.zeros(2, 1, 28, 28), torch.zeros(2, 784))
    with pytest.raises(ValueError, match="unknown reconstruction loss 'huber'"):
        reconstruction_loss("huber")


def test_reconstruction_loss_is_batch_mean_and_differentiable():
    model, x = MLPAutoencoder(), torch.rand(4, 1, 28, 28)
    loss = reconstruction_loss("mse")(model, x)
    assert loss.ndim == 0
    torch.testing.assert_close(loss, ((model(x) - x) ** 2).sum(dim=(1, 2, 3)).mean())
    loss.backward()
    assert model.encoder[1].weight.grad is not None


def test_kl_of_standard_normal_is_zero():
    assert torch.equal(kl_divergence(torch.zeros(5, 8), torch.zeros(5, 8)), torch.zeros(5))


def test_kl_known_value_and_gradient():
    mu, logvar = torch.tensor([[1.0, 0.0]], requires_grad=True), torch.tensor([[0.0, 1.0]], requires_grad=True)
    kl = kl_divergence(mu, logvar)
    expected = 0.5 * (1.0 + (torch.e - 1 - 1))  # 0.5*(mu^2) + 0.5*(e - 1 - 1)
    assert kl.item() == pytest.approx(expected)
    kl.sum().backward()
    assert mu.grad.tolist() == [[1.0, 0.0]]                                  # d/dmu = mu
    assert logvar.grad[0].tolist() == pytest.approx([0.0, 0.5 * (torch.e - 1)])  # d/dlogvar = (e^lv - 1)/2


def test_kl_matches_torch_distributions():
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    torch.testing.assert_close(kl_divergence(mu, logvar), torch.distributions.kl_divergence(q, p).sum(1))
