import pytest
import torch
import torch.nn.functional as F

from aecourse import losses
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


class TinyVAE(torch.nn.Module):
    """The VAE contract in miniature: posterior(x) -> (mu, logvar), decode_logits(z) -> logits like x."""
    code_shape = (2,)

    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 4))
        self.decoder = torch.nn.Sequential(torch.nn.Linear(2, 784), torch.nn.Unflatten(1, (1, 28, 28)))

    def posterior(self, x):
        return self.encoder(x).chunk(2, dim=1)

    def decode_logits(self, z):
        return self.decoder(z)


def test_reparameterize_moments_and_gradients():
    from aecourse.losses import reparameterize
    mu = torch.tensor([[1.0, -3.0]]).repeat(50_000, 1).requires_grad_()
    logvar = torch.log(torch.tensor([[4.0, 0.01]])).repeat(50_000, 1).requires_grad_()
    z = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(z.mean(0), torch.tensor([1.0, -3.0]), atol=0.03, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([2.0, 0.1]), rtol=0.02, atol=0)
    z.sum().backward()
    assert torch.equal(mu.grad, torch.ones_like(mu))                      # dz/dmu = 1
    eps = (z.detach() - mu.detach()) / torch.exp(0.5 * logvar.detach())
    torch.testing.assert_close(logvar.grad, 0.5 * torch.exp(0.5 * logvar.detach()) * eps)  # dz/dlogvar = sigma eps / 2


def test_a_plain_sample_passes_no_gradient_to_mu():
    """What the reparameterization trick fixes: torch.distributions' sample() is cut from the graph."""
    mu = torch.zeros(3, 2, requires_grad=True)
    assert not torch.distributions.Normal(mu, 1.0).sample().requires_grad


def test_bernoulli_nll_matches_the_cross_entropy_of_probabilities():
    from aecourse.losses import bernoulli_nll
    logits = torch.randn(3, 1, 28, 28)
    x = torch.bernoulli(torch.full((3, 1, 28, 28), 0.4))
    torch.testing.assert_close(bernoulli_nll(logits, x), reconstruction_error(torch.sigmoid(logits), x, "bce"))
    # where the sigmoid saturates, the logits still give the exact value (log sigmoid(-200) = -200)
    assert bernoulli_nll(torch.full((1, 1, 28, 28), -200.0), torch.ones(1, 1, 28, 28)).item() == pytest.approx(784 * 200)


def test_vae_loss_reductions_sum_over_pixels_and_latents_and_average_over_images():
    from aecourse.losses import bernoulli_nll, vae_loss
    model = TinyVAE()
    x = torch.rand(5, 1, 28, 28)
    torch.manual_seed(0)
    terms = vae_loss(beta=3.0)(model, x)
    torch.manual_seed(0)   # the same eps again
    mu, logvar = model.posterior(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape)
    reconstruction = bernoulli_nll(model.decode_logits(z), x)              # (5,): summed over 784 pixels
    kl = kl_divergence(mu, logvar)                                         # (5,): summed over 2 latent dims
    torch.testing.assert_close(terms["reconstruction"], reconstruction.mean())
    torch.testing.assert_close(terms["kl"], kl.mean())
    torch.testing.assert_close(terms["loss"], (reconstruction + 3.0 * kl).mean())
    terms["loss"].backward()
    assert model.encoder[1].weight.grad.abs().sum() > 0                    # gradients reach the encoder through z


def test_vae_loss_binarizes_dynamically():
    from aecourse.losses import vae_loss
    model = TinyVAE()
    seen = []
    model.posterior = lambda x: (seen.append(x.clone()), TinyVAE.posterior(model, x))[1]
    grey = torch.full((4, 1, 28, 28), 0.5)
    vae_loss(binarize=True)(model, grey)
    vae_loss(binarize=True)(model, grey)
    assert set(seen[0].unique().tolist()) == {0.0, 1.0}
    assert not torch.equal(seen[0], seen[1])                               # fresh draws at every step
    vae_loss()(model, grey)
    assert torch.equal(seen[2], grey)


def test_free_bits_kl_known_value_floor_and_gradient():
    # dimension 0: KL 0.5 * 4 = 2 nats for both rows; dimension 1: KL 0 (the prior), floored at 0.25
    mu = torch.tensor([[2.0, 0.0], [-2.0, 0.0]], requires_grad=True)
    logvar = torch.zeros(2, 2, requires_grad=True)
    value = losses.free_bits_kl(mu, logvar, 0.25)
    assert value.item() == pytest.approx(2.0 + 0.25)
    value.backward()
    assert torch.equal(mu.grad[:, 1], torch.zeros(2)), "below the floor a dimension gets no gradient"
    assert torch.allclose(mu.grad[:, 0], torch.tensor([1.0, -1.0])), "d/dmu of mean_n 0.5 mu^2 over 2 rows"
    # with no floor it is the batch mean of kl_divergence
    mu, logvar = torch.randn(5, 3), torch.randn(5, 3)
    assert losses.free_bits_kl(mu, logvar, 0.0).item() == pytest.approx(losses.kl_divergence(mu, logvar).mean().item(),
                                                                        rel=1e-6)
