import warnings

import pytest
import torch

import aecourse
from aecourse import fit
from aecourse.losses import kl_divergence, reconstruction_error, reconstruction_loss
from aecourse.models import MLPAutoencoder


def small_model():
    return MLPAutoencoder(latent_dim=8, hidden_dims=(64,))


def test_fit_lowers_the_loss_and_records_history(small_images):
    val = small_images[:128]
    model = small_model()
    before = aecourse.metrics.evaluate(model, reconstruction_loss(), val)["loss"]
    history = fit(model, reconstruction_loss(), small_images, epochs=5, batch_size=64, lr=3e-3,
                  val_images=val, progress=False, device="cpu")
    assert history.epochs == 5 and len(history.train["loss"]) == 5 and len(history.val["loss"]) == 5
    assert history.train["loss"][-1] < 0.6 * history.train["loss"][0]
    assert history.val["loss"][-1] < 0.6 * before
    assert all(s > 0 for s in history.seconds) and history.best_epoch == 4
    assert not model.training


def test_seeded_runs_repeat_exactly_on_cpu(small_images):
    def run():
        aecourse.seed_everything(7)
        model = MLPAutoencoder(latent_dim=4, hidden_dims=(32,), dropout=0.1)
        history = fit(model, reconstruction_loss(), small_images, epochs=2, batch_size=50, progress=False,
                      device="cpu", seed=7)
        return history.train["loss"], [p.detach().clone() for p in model.parameters()]

    (loss_a, params_a), (loss_b, params_b) = run(), run()
    assert loss_a == loss_b
    assert all(torch.equal(a, b) for a, b in zip(params_a, params_b))


def test_dict_losses_are_logged_term_by_term(small_images):
    def loss_fn(model, batch):  # an autoencoder loss plus a KL term on its code, VAE style
        z = model.encode(batch)
        recon = reconstruction_error(model.decode(z), batch).mean()
        kl = kl_divergence(z, torch.zeros_like(z)).mean()
        return {"loss": recon + 0.01 * kl, "reconstruction": recon, "kl": kl}

    history = fit(small_model(), loss_fn, small_images, epochs=2, val_images=small_images[:64],
                  progress=False, device="cpu")
    assert set(history.train) == set(history.val) == {"loss", "reconstruction", "kl"}


def test_early_stopping_restores_best_weights(small_images):
    model = small_model()
    history = fit(model, reconstruction_loss(), small_images, epochs=30, lr=0.05, batch_size=32,
                  val_images=small_images[:64], patience=2, progress=False, device="cpu")
    best = min(history.val["loss"])
    assert history.val["loss"][history.best_epoch] == best
    final = aecourse.metrics.evaluate(model, reconstruction_loss(), small_images[:64])["loss"]
    assert final == pytest.approx(best, rel=1e-5)


def test_cosine_schedule_ends_near_zero_lr(small_images):
    model = small_model()
    fit(model, reconstruction_loss(), small_images[:100], epochs=2, lr_schedule="cosine", progress=False)
    # nothing to read from outside but the effect: a run with lr annealed differs from a constant one
    aecourse.seed_everything(0)
    other = small_model()
    fit(other, reconstruction_loss(), small_images[:100], epochs=2, progress=False)
    assert not torch.equal(model.encoder[1].weight, other.encoder[1].weight)


@pytest.mark.parametrize("kwargs,error,message", [
    ({"epochs": 0}, ValueError, "epochs must be a positive int"),
    ({"epochs": 1, "lr_schedule": "step"}, ValueError, "unknown lr_schedule 'step'"),
    ({"epochs": 1, "lr": -1}, ValueError, "lr must be a positive number"),
    ({"epochs": 1, "patience": 2}, ValueError, "patience .* needs val_images"),
])
def test_fit_rejects_bad_options(small_images, kwargs, error, message):
    with pytest.raises(error, match=message):
        fit(small_model(), reconstruction_loss(), small_images, progress=False, **kwargs)


def test_fit_rejects_bad_images():
    with pytest.raises(TypeError, match="train_images must be a floating-point"):
        fit(small_model(), reconstruction_loss(), torch.zeros(4, 1, 28, 28, dtype=torch.uint8), epochs=1)
    with pytest.raises(ValueError, match=r"val_images must have values in \[0, 1\]"):
        fit(small_model(), reconstruction_loss(), torch.rand(4, 1, 28, 28), epochs=1,
            val_images=torch.rand(4, 1, 28, 28) * 255)


def test_fit_explains_non_scalar_losses(small_images):
    def per_image(model, batch):
        return reconstruction_error(model(batch), batch)

    with pytest.raises(ValueError, match=r"scalar tensors.*forget \.mean\(\)"):
        fit(small_model(), per_image, small_images, epochs=1, progress=False)


def test_fit_stops_on_nan_loss(small_images):
    def exploding(model, batch):
        return model(batch).sum() * float("nan")

    with pytest.raises(FloatingPointError, match="try a smaller lr"):
        fit(small_model(), exploding, small_images, epochs=1, progress=False)


def test_fit_uses_the_fused_adamw_kernel_on_cpu():
    from aecourse.train import _adamw

    optimizer = _adamw(list(small_model().parameters()), 1e-3, 0.0)
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.defaults["fused"] is True


def test_conv_models_train_channels_last_on_cpu_with_the_same_results(small_images):
    from aecourse.models import ConvAutoencoder
    images = small_images[:256]
    aecourse.seed_everything(0)
    model = ConvAutoencoder(latent_dim=8, upsampling="bed_of_nails")
    reference = ConvAutoencoder(latent_dim=8, upsampling="bed_of_nails")
    reference.load_state_dict(model.state_dict())
    fit(model, reconstruction_loss("mse"), images, epochs=1, batch_size=64, device="cpu", progress=False)
    assert model.decoder[3][1].weight.is_contiguous(memory_format=torch.channels_last)
    # the same steps by hand in the default layout
    optimizer = torch.optim.AdamW(reference.parameters(), lr=1e-3, weight_decay=0.0)
    generator = torch.Generator().manual_seed(0)
    for idx in aecourse.data.minibatches(len(images), 64, generator=generator):
        loss = reconstruction_loss("mse")(reference, images[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        assert torch.allclose(model(images), reference.eval()(images), atol=1e-4)


def test_measure_runs_after_every_epoch_in_eval_mode(small_images):
    seen = []

    def measure(model):
        seen.append((model.training, torch.is_grad_enabled()))
        return {"twice": 2.0}

    model = MLPAutoencoder(latent_dim=4, hidden_dims=(16,), dropout=0.1)
    history = fit(model, reconstruction_loss("mse"), small_images, epochs=3, device="cpu", progress=False,
                  measure=measure)
    assert history.measured == [{"twice": 2.0}] * 3 and seen == [(False, False)] * 3


@pytest.mark.parametrize("measure,error", [(42, TypeError), (lambda model: 3.0, TypeError)])
def test_measure_must_be_a_function_returning_a_dict(small_images, measure, error):
    with pytest.raises(error, match="measure must"):
        fit(MLPAutoencoder(latent_dim=4, hidden_dims=(16,)), reconstruction_loss("mse"), small_images, epochs=1,
            device="cpu", progress=False, measure=measure)


# --- the CUDA-graph step (benchmarks/gpu_speedups.py measures what it gains) ---

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_the_course_losses_are_marked_graph_safe_and_others_are_not():
    from aecourse.losses import graph_safe, vae_loss
    assert reconstruction_loss("mse").graph_safe and reconstruction_loss("bce").graph_safe
    assert vae_loss(beta=2.0).graph_safe and vae_loss(binarize=True).graph_safe

    def mine(model, batch):
        return reconstruction_error(model(batch), batch).mean()
    assert not getattr(mine, "graph_safe", False)
    assert graph_safe(mine) is mine and mine.graph_safe
    with pytest.raises(TypeError, match="marks a loss function"):
        graph_safe(3)


def test_closed_form_cosine_lr_matches_pytorchs_scheduler():
    from aecourse.train import _cosine_lr
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.01)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=50)
    for step in range(50):
        assert _cosine_lr(0.01, step, 50) == pytest.approx(optimizer.param_groups[0]["lr"], rel=1e-9, abs=1e-15)
        optimizer.step()
        scheduler.step()
    assert _cosine_lr(0.01, 0, 50) == 0.01 and _cosine_lr(0.01, 25, 50) == pytest.approx(0.005)


def test_fit_on_the_cpu_works_where_fork_rng_rejects_device_type_none(small_images, monkeypatch):
    # torch <= 2.11 raised TypeError for fork_rng(device_type=None); fit must not pass it on the CPU
    original = torch.random.fork_rng

    def strict_fork_rng(*args, **kwargs):
        if "device_type" in kwargs and kwargs["device_type"] is None:
            raise TypeError("device() received an invalid combination of arguments - got (NoneType)")
        return original(*args, **kwargs)
    monkeypatch.setattr(torch.random, "fork_rng", strict_fork_rng)
    history = fit(small_model(), reconstruction_loss(), small_images, epochs=1, progress=False, device="cpu")
    assert history.epochs == 1


def test_no_graph_is_recorded_on_the_cpu(small_images, monkeypatch):
    import aecourse.train as train

    def refuse(*args, **kwargs):
        raise AssertionError("a CUDA graph was recorded on the CPU")
    monkeypatch.setattr(train, "_GraphedStep", refuse)
    fit(small_model(), reconstruction_loss(), small_images, epochs=1, batch_size=32, progress=False, device="cpu")


def _graph_and_step_by_step(images, loss, make_model, monkeypatch, **options):
    """Train twice from the same weights, with and without the graph; return (history, weights, replays) each."""
    import aecourse.train as train
    replays = [0]
    original_step = train._GraphedStep.step

    def counted_step(self, idx):
        replays[0] += 1
        return original_step(self, idx)
    monkeypatch.setattr(train._GraphedStep, "step", counted_step)
    results = []
    for graphs in (True, False):
        monkeypatch.setattr(train, "CUDA_GRAPHS", graphs)
        replays[0] = 0
        aecourse.seed_everything(0)
        model = make_model()
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)   # a recording that falls back fails the test
            history = fit(model, loss, images, progress=False, device="cuda", seed=3, **options)
        results.append((history, {k: v.detach().cpu() for k, v in model.state_dict().items()}, replays[0]))
    return results


@cuda
@pytest.mark.parametrize("schedule, batchnorm", [("constant", False), ("cosine", True)])
def test_graph_step_trains_like_the_step_by_step_loop(schedule, batchnorm, monkeypatch):
    images = aecourse.load_mnist("train")[0][:1000]        # 7 full batches of 128 and one of 104
    (graphed, graphed_weights, replays), (eager, eager_weights, no_replays) = _graph_and_step_by_step(
        images, reconstruction_loss("mse"),
        lambda: MLPAutoencoder(latent_dim=8, hidden_dims=(64,), batchnorm=batchnorm), monkeypatch,
        epochs=3, batch_size=128, lr=3e-3, lr_schedule=schedule, weight_decay=0.01)
    assert replays == 3 * 7 - 3 and no_replays == 0     # every full batch after the first three was replayed
    assert graphed.train["loss"] == pytest.approx(eager.train["loss"], rel=1e-4)
    for name in eager_weights:
        assert torch.allclose(graphed_weights[name], eager_weights[name], atol=1e-4), name


@cuda
def test_graph_step_trains_a_vae_with_validation_and_patience_like_step_by_step(monkeypatch):
    from aecourse.losses import vae_loss
    from aecourse.models import ConvVAE
    images = aecourse.load_mnist("train")[0][:2000]
    (graphed, _, replays), (eager, _, _) = _graph_and_step_by_step(
        images, vae_loss(), lambda: ConvVAE(latent_dim=8), monkeypatch, epochs=3, batch_size=128,
        val_images=images[:500], patience=2)
    assert replays == 3 * 15 - 3
    assert set(graphed.train) == {"loss", "reconstruction", "kl"}
    for term in graphed.train:   # the noise may be drawn differently, so agreement to its spread, not to rounding
        assert graphed.train[term][-1] == pytest.approx(eager.train[term][-1], rel=0.02), term
        assert graphed.val[term][-1] == pytest.approx(eager.val[term][-1], rel=0.02), term
    assert graphed.train["loss"][-1] < graphed.train["loss"][0]


@cuda
def test_a_loss_that_cannot_be_recorded_falls_back_to_step_by_step_with_a_warning():
    from aecourse.losses import graph_safe

    @graph_safe
    def reads_a_value(model, batch):   # .item() waits for the GPU, which a recording cannot do
        loss = reconstruction_error(model(batch), batch).mean()
        if loss.item() < 0:
            raise AssertionError("unreachable")
        return loss
    images = aecourse.load_mnist("train")[0][:1000]
    stream = torch.cuda.current_stream()
    with pytest.warns(RuntimeWarning, match="training step by step instead"):
        history = fit(small_model(), reads_a_value, images, epochs=2, progress=False, device="cuda")
    assert torch.cuda.current_stream() == stream          # the failed recording left the stream as it was
    assert history.train["loss"][-1] < history.train["loss"][0]
