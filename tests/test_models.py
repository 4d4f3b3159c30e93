import pytest
import torch

from aecourse.models import (ACTIVATIONS, UPSAMPLING, BedOfNails, ConvAutoencoder, ConvVAE, MLPAutoencoder, MLPVAE,
                             make_activation, parameter_count)


@pytest.mark.parametrize("kwargs", [
    {}, {"latent_dim": 2, "hidden_dims": (64,)}, {"hidden_dims": ()},
    {"activation": "leaky_relu", "batchnorm": True, "dropout": 0.2},
    {"activation": "identity", "output_activation": "identity"},
])
def test_mlp_autoencoder_shapes(kwargs):
    model = MLPAutoencoder(**kwargs)
    x = torch.rand(5, 1, 28, 28)
    z = model.encode(x)
    assert z.shape == (5, model.latent_dim)
    assert model.decode(z).shape == (5, 1, 28, 28)
    assert model(x).shape == (5, 1, 28, 28)


def test_sigmoid_output_stays_in_unit_interval():
    out = MLPAutoencoder()(torch.rand(4, 1, 28, 28))
    assert out.min() >= 0 and out.max() <= 1


def test_mlp_parameter_count_matches_formula():
    model = MLPAutoencoder(latent_dim=32, hidden_dims=(512, 128))
    linear = lambda a, b: a * b + b  # noqa: E731
    expected = (linear(784, 512) + linear(512, 128) + linear(128, 32)
                + linear(32, 128) + linear(128, 512) + linear(512, 784))
    assert parameter_count(model) == expected


@pytest.mark.parametrize("upsampling", UPSAMPLING)
@pytest.mark.parametrize("latent_dim", [None, 10])
def test_conv_autoencoder_shapes_for_every_upsampling(upsampling, latent_dim):
    model = ConvAutoencoder(latent_dim, upsampling=upsampling)
    x = torch.rand(3, 1, 28, 28)
    z = model.encode(x)
    assert z.shape == ((3, 32, 7, 7) if latent_dim is None else (3, 10))
    assert model(x).shape == (3, 1, 28, 28)


def test_gradients_reach_every_parameter():
    for model in [MLPAutoencoder(batchnorm=True), ConvAutoencoder(8, upsampling="pixel_shuffle")]:
        model(torch.rand(4, 1, 28, 28)).square().mean().backward()
        for name, p in model.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_bed_of_nails_places_values_on_a_grid_of_zeros():
    x = torch.arange(4.0).view(1, 1, 2, 2) + 1
    out = BedOfNails(2)(x)
    assert out.shape == (1, 1, 4, 4)
    assert torch.equal(out[0, 0, ::2, ::2], x[0, 0]) and out.sum() == x.sum()


@pytest.mark.parametrize("make,message", [
    (lambda: MLPAutoencoder(latent_dim=0), "latent_dim must be a positive int"),
    (lambda: MLPAutoencoder(activation="relu6"), "unknown activation 'relu6'"),
    (lambda: MLPAutoencoder(dropout=1.0), r"dropout must be a number in \[0, 1\)"),
    (lambda: ConvAutoencoder(upsampling="deconv"), "unknown upsampling 'deconv'.*'transposed'"),
    (lambda: ConvAutoencoder(channels=(16,)), "channels must be two ints"),
    (lambda: MLPVAE(latent_dim=0), "latent_dim must be a positive int"),
    (lambda: MLPVAE(hidden=-3), "hidden must be a positive int"),
    (lambda: ConvVAE(channels=(8, 8, 8)), "channels must be two ints"),
])
def test_bad_options_are_rejected_clearly(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_wrong_image_shape_is_rejected_before_torch_sees_it():
    with pytest.raises(ValueError, match=r"shape \(N, 1, 28, 28\).*got \(4, 784\)"):
        MLPAutoencoder()(torch.rand(4, 784))


def test_every_activation_builds():
    for name in ACTIVATIONS:
        assert isinstance(make_activation(name), torch.nn.Module)


def test_bed_of_nails_keeps_the_channels_last_layout():
    x = torch.randn(2, 3, 4, 4).to(memory_format=torch.channels_last)
    out = BedOfNails(2)(x)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(out[:, :, ::2, ::2], x) and out.abs().sum() == x.abs().sum()


@pytest.mark.parametrize("make", [lambda: MLPVAE(latent_dim=3, hidden=32), lambda: ConvVAE(latent_dim=5, channels=(4, 8))])
def test_vaes_meet_the_model_contract(make):
    """posterior -> (mu, logvar); encode = mu; decode = sigmoid(decode_logits); forward = decode(encode(x))."""
    torch.manual_seed(0)
    model, x = make(), torch.rand(6, 1, 28, 28)
    latent_dim = model.code_shape[0]
    mu, logvar = model.posterior(x)
    assert mu.shape == logvar.shape == (6, latent_dim)
    assert torch.equal(model.encode(x), mu)
    z = torch.randn(6, latent_dim)
    logits = model.decode_logits(z)
    assert logits.shape == (6, 1, 28, 28)
    assert torch.equal(model.decode(z), torch.sigmoid(logits))
    assert torch.equal(model(x), torch.sigmoid(model.decode_logits(mu)))
    model(x).sum().backward()
    assert all(p.grad is not None for name, p in model.named_parameters()), "forward must reach every weight"


def test_vae_rejects_codes_of_the_wrong_size():
    with pytest.raises(ValueError, match=r"codes must have shape \(N, 16\) for this MLPVAE, got \(2, 8\)"):
        MLPVAE().decode(torch.zeros(2, 8))
