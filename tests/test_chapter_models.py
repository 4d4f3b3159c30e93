"""The models a chapter writes out and the package classes later chapters reuse are the same functions.

Each chapter defines its model layer by layer (the learner reads it there); when a later chapter reuses it, it lives
in ``aecourse.models`` too. These tests take the class from the chapter's own source, load the package model's
weights into it, and require identical outputs.
"""
from pathlib import Path

import jupytext
import pytest
import torch
from torch import nn

from aecourse.models import ConvAutoencoder, ConvVAE, MLPAutoencoder, MLPVAE

BOOK = Path(__file__).resolve().parents[1] / "book"


def chapter_namespace(chapter: str, *definitions: str, **names) -> dict:
    """Execute the code cells of ``book/<chapter>.md`` that define ``definitions`` (in order) and return the names.

    ``names`` are chapter constants the definitions read (defaults such as ``LATENT_DIM``)."""
    namespace: dict = {"torch": torch, "nn": nn, "F": torch.nn.functional, **names}
    cells = [cell.source for cell in jupytext.read(BOOK / f"{chapter}.md").cells if cell.cell_type == "code"]
    for definition in definitions:
        source = next((s for s in cells if f"\n{definition}" in f"\n{s}"), None)
        assert source is not None, f"book/{chapter}.md no longer defines {definition!r}"
        exec(compile(source, f"book/{chapter}.md", "exec"), namespace)
    return namespace


def assert_same_function(written: nn.Module, package: nn.Module, images: torch.Tensor) -> None:
    assert set(written.state_dict()) == set(package.state_dict()), "the two models name their weights differently"
    written.load_state_dict(package.state_dict())
    written.eval(), package.eval()
    with torch.no_grad():
        assert torch.equal(written(images), package(images))
        assert torch.equal(written.encoder(images), package.encode(images))


@pytest.mark.parametrize("options,package_options", [
    ({"latent_dim": 32, "hidden_dims": (256,)}, {"latent_dim": 32, "hidden_dims": (256,)}),
    ({"latent_dim": 16, "hidden_dims": (), "linear": True},
     {"latent_dim": 16, "hidden_dims": (), "activation": "identity", "output_activation": "identity"}),
    ({"latent_dim": 30, "hidden_dims": (512, 256), "batchnorm": True},
     {"latent_dim": 30, "hidden_dims": (512, 256), "batchnorm": True}),
    ({"latent_dim": 64, "hidden_dims": (512, 128), "dropout": 0.1},
     {"latent_dim": 64, "hidden_dims": (512, 128), "dropout": 0.1}),
])
def test_linear_chapter_funnel_is_the_package_mlp_autoencoder(options, package_options):
    FunnelAutoencoder = chapter_namespace("linear_autoencoders", "class FunnelAutoencoder")["FunnelAutoencoder"]
    torch.manual_seed(0)
    package = MLPAutoencoder(**package_options)
    with torch.no_grad():   # non-trivial BatchNorm statistics, so eval mode tests them too
        for module in package.modules():
            if isinstance(module, nn.BatchNorm1d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    assert_same_function(FunnelAutoencoder(**options), package, torch.rand(6, 1, 28, 28))


@pytest.mark.parametrize("latent_dim", [None, 32, 2])
@pytest.mark.parametrize("upsampling", ["nearest", "bilinear", "bed_of_nails", "transposed", "pixel_shuffle"])
def test_conv_chapter_autoencoder_is_the_package_conv_autoencoder(latent_dim, upsampling):
    namespace = chapter_namespace("convolutional_autoencoders", "class BedOfNails")
    torch.manual_seed(0)
    package = ConvAutoencoder(latent_dim, upsampling=upsampling)
    assert_same_function(namespace["ConvAutoencoder"](latent_dim, upsampling), package, torch.rand(4, 1, 28, 28))


@pytest.mark.parametrize("name,package_class,options", [
    ("MLPVAE", MLPVAE, {}), ("MLPVAE", MLPVAE, {"latent_dim": 2}), ("ConvVAE", ConvVAE, {}),
    ("ConvVAE", ConvVAE, {"latent_dim": 8}),
])
def test_vae_chapter_models_are_the_package_vaes(name, package_class, options):
    """The VAE chapter's MLPVAE and ConvVAE, loaded with the package model's weights, compute the same function."""
    namespace = chapter_namespace("variational_autoencoders", "class MLPVAE", "class ConvVAE", LATENT_DIM=16)
    torch.manual_seed(0)
    package, written = package_class(**options), namespace[name](**options)
    assert set(written.state_dict()) == set(package.state_dict()), "the two models name their weights differently"
    written.load_state_dict(package.state_dict())
    images, codes = torch.rand(4, 1, 28, 28), torch.randn(4, *package.code_shape)
    with torch.no_grad():
        for a, b in zip(written.posterior(images), package.posterior(images)):
            assert torch.equal(a, b)
        assert torch.equal(written.decode_logits(codes), package.decode_logits(codes))
        assert torch.equal(written(images), package(images))


def test_first_look_loop_is_what_fit_runs():
    """The loop first_look writes out takes the same steps as fit (same order, Adam = AdamW without decay)."""
    import aecourse
    from aecourse.losses import reconstruction_loss
    train_one_epoch = chapter_namespace("first_look", "def train_one_epoch")["train_one_epoch"]
    images = aecourse.load_mnist("train")[0][:700]
    torch.manual_seed(0)
    by_fit = MLPAutoencoder(latent_dim=8, hidden_dims=(32,))
    by_hand = MLPAutoencoder(latent_dim=8, hidden_dims=(32,))
    by_hand.load_state_dict(by_fit.state_dict())
    history = aecourse.fit(by_fit, reconstruction_loss("mse"), images, epochs=1, batch_size=128, seed=3,
                           device="cpu", progress=False)
    loss = train_one_epoch(by_hand, images, torch.optim.Adam(by_hand.parameters(), lr=1e-3), 128,
                           torch.Generator().manual_seed(3))
    assert loss == pytest.approx(history.train["loss"][0], rel=1e-5)
    for a, b in zip(by_fit.parameters(), by_hand.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_anomaly_chapter_model_and_score_are_the_package_ones():
    """The anomaly chapter's OneClassAutoencoder is MLPAutoencoder(latent, (256, 64)), and its gaussian_blur,
    anomaly_score and auroc compute what aecourse.anomaly's do (the reference run uses the package's)."""
    import math

    from sklearn.metrics import roc_auc_score

    from aecourse import anomaly
    namespace = chapter_namespace("anomaly_detection", "def gaussian_blur", "class OneClassAutoencoder", LATENT_DIM=8,
                                  math=math, roc_auc_score=roc_auc_score)
    for latent_dim in (2, 8, 32):
        torch.manual_seed(0)
        package = MLPAutoencoder(latent_dim, hidden_dims=(256, 64))
        assert_same_function(namespace["OneClassAutoencoder"](latent_dim), package, torch.rand(4, 1, 28, 28))
    x, x_hat = torch.rand(2, 6, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    for width in (0.0, 1.0, 2.0):
        assert torch.equal(namespace["gaussian_blur"](x - x_hat, width), anomaly.gaussian_blur(x - x_hat, width))
        for relative in (False, True):
            assert torch.equal(namespace["anomaly_score"](x_hat, x, width, relative),
                               anomaly.anomaly_score(x_hat, x, width, relative))
    scores, labels = torch.rand(50), torch.arange(50) % 4
    assert namespace["auroc"](scores, labels, 2) == anomaly.auroc(scores, labels, 2)
