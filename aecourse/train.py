"""The one training loop of the course: minibatch gradient descent on data that sits on the device."""
from __future__ import annotations

import copy
import math
import numbers
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .data import minibatches
from .losses import LossFn
from .metrics import as_terms, eval_mode, evaluate, model_dtype
from .runtime import as_device, get_device
from .validation import check_choice, check_images, check_model, check_positive_int

LR_SCHEDULES = ("constant", "cosine")


@dataclass
class History:
    """What :func:`fit` measured, one entry per epoch.

    ``train["loss"][e]`` is the mean training loss over epoch ``e`` (``val`` likewise, on ``val_images``);
    other terms a ``loss_fn`` returns (a VAE's ``"kl"``) sit beside ``"loss"``. ``best_epoch`` is the epoch
    whose weights the model holds at the end (the last one, or the best validation epoch with ``patience``).
    """

    train: dict[str, list[float]] = field(default_factory=dict)
    val: dict[str, list[float]] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)
    measured: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1

    @property
    def epochs(self) -> int:
        return len(self.seconds)


def _append(log: dict[str, list[float]], terms: dict[str, float]) -> None:
    for name, value in terms.items():
        log.setdefault(name, []).append(value)


def _numbers(measured: dict) -> dict[str, float]:
    """``measure``'s dict as plain floats, or a clear error."""
    result = {}
    for name, value in measured.items():
        if isinstance(value, Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"measure must return a dict of numbers; entry {name!r} is {type(value).__name__}")
        if not math.isfinite(value):
            raise FloatingPointError(f"measure returned {name!r} = {value}")
        result[name] = float(value)
    return result


def _adamw(params: list[nn.Parameter], lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW, with the fused kernel where the device has one: it updates every parameter in one pass,
    which on a 2-core CPU makes an MLP autoencoder's epoch about a quarter faster."""
    try:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    except RuntimeError:  # no fused kernel for this device or dtype
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def fit(model: nn.Module, loss_fn: LossFn, train_images: Tensor, *, epochs: int, batch_size: int = 128,
        lr: float = 1e-3, val_images: Tensor | None = None, weight_decay: float = 0.0,
        lr_schedule: str = "constant", patience: int | None = None, seed: int = 0,
        device: torch.device | str | None = None, progress: bool = True,
        measure: Callable[[nn.Module], dict[str, float]] | None = None) -> History:
    """Train ``model`` to minimise ``loss_fn(model, batch)`` over ``train_images`` ``(N, 1, 28, 28)`` in ``[0, 1]``.

    Adam(W) with learning rate ``lr`` and decoupled ``weight_decay``; ``lr_schedule="cosine"`` anneals it to 0
    over the run. Each epoch visits every image once, in batches of ``batch_size`` (a last batch of one image joins
    the batch before it), in an order drawn from a generator seeded with ``seed``. ``seed`` also seeds every random
    draw made during training (dropout, a VAE's noise) without touching the global generator: a rerun with the same
    ``seed`` and the same initial weights (build the model after ``seed_everything``) repeats exactly on the CPU.
    ``loss_fn`` returns a scalar tensor or a dict of scalars with a ``"loss"`` entry (the one minimised).
    With ``val_images``, the validation loss is measured after every epoch; with ``patience`` as well, training
    stops after that many epochs without improvement and the model is left with its best weights.
    The model and data are moved to ``device`` (default: :func:`aecourse.get_device`). ``measure(model)``, if given,
    runs after every epoch with the model in eval mode and without gradients; the dict of numbers it returns is
    appended to ``History.measured`` (e.g. a test metric other than the loss). A loss term, validation term or
    measurement that becomes NaN or inf stops training with ``FloatingPointError``. Returns a :class:`History`.
    """
    check_model(model)
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a function loss_fn(model, batch) -> loss, got {type(loss_fn).__name__}")
    if measure is not None and not callable(measure):
        raise TypeError(f"measure must be a function of the model returning a dict, got {type(measure).__name__}")
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    check_choice(lr_schedule, "lr_schedule", LR_SCHEDULES)
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
        raise TypeError(f"lr must be a positive number, got {type(lr).__name__} {lr!r}")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, numbers.Real):
        raise TypeError(f"weight_decay must be a non-negative number, got {type(weight_decay).__name__}")
    if not 0 <= weight_decay < math.inf:
        raise ValueError(f"weight_decay must be a non-negative number, got {weight_decay!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False, got {progress!r}")
    if patience is not None:
        check_positive_int(patience, "patience")
        if val_images is None:
            raise ValueError("patience (early stopping) needs val_images to watch")
    device = get_device() if device is None else as_device(device)
    dtype = model_dtype(model)
    train_images = check_images(train_images, "train_images", dtype=dtype).to(device)
    if val_images is not None:
        val_images = check_images(val_images, "val_images", dtype=dtype).to(device)
    if any(isinstance(m, nn.BatchNorm1d) for m in model.modules()) and min(batch_size, len(train_images)) < 2:
        raise ValueError("a model with BatchNorm1d needs batches of at least 2 images (it normalises each feature "
                         f"over the batch); got batch_size={batch_size} and {len(train_images)} training images")
    model.to(device)
    if device.type == "cpu" and any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules()):
        # oneDNN's convolutions run about twice as fast on channels-last weights on a CPU (measured for the
        # ConvAutoencoder decoders); results are the same up to float rounding. GPUs keep the default layout.
        model.to(memory_format=torch.channels_last)

    # Every random draw during training (dropout masks, a VAE's noise) comes from `seed`, so a rerun with the same
    # seed and the same initial weights repeats exactly; the learner's own generators are left as they were.
    with _seeded_draws(seed, device):
        return _train(model, loss_fn, train_images, val_images, epochs=epochs, batch_size=batch_size, lr=lr,
                      weight_decay=weight_decay, lr_schedule=lr_schedule, patience=patience, seed=seed,
                      device=device, progress=progress, measure=measure)


@contextmanager
def _seeded_draws(seed: int, device: torch.device) -> Iterator[None]:
    """Inside the block, the CPU generator and ``device``'s generator are seeded from ``seed``; after it, both are
    back where they were. Only the device trained on is forked and seeded: other GPUs are not touched."""
    accelerator = device.type in ("cuda", "mps")
    with torch.random.fork_rng(devices=[device] if accelerator else [], device_type=device.type if accelerator
                               else None):
        # a stream of its own: seed_everything(seed) before building the model used `seed` for the weights
        stream = seed + 0x5EED
        torch.random.default_generator.manual_seed(stream)
        if device.type == "cuda":
            with torch.cuda.device(device):
                torch.cuda.manual_seed(stream)
        elif device.type == "mps":
            torch.mps.manual_seed(stream)
        yield


def _epoch_batches(n: int, batch_size: int, generator: torch.Generator, device: torch.device) -> list[Tensor]:
    """One epoch's index batches; a last batch of a single image joins the one before it, because BatchNorm cannot
    normalise one sample (and one image's gradient is mostly noise). Every image is still visited once."""
    batches = list(minibatches(n, batch_size, generator=generator, device=device))
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [torch.cat(batches[-2:])]
    return batches


def _check_finite(terms: dict[str, float], where: str, lr: float) -> None:
    for name, value in terms.items():
        if not math.isfinite(value):
            raise FloatingPointError(f"{where} {name!r} became {value}; try a smaller lr (now {lr}) or check loss_fn "
                                     "(a log of 0, a division by 0, or weights that are already NaN)")


def _train(model: nn.Module, loss_fn: LossFn, train_images: Tensor, val_images: Tensor | None, *, epochs: int,
           batch_size: int, lr: float, weight_decay: float, lr_schedule: str, patience: int | None, seed: int,
           device: torch.device, progress: bool, measure: Callable[[nn.Module], dict[str, float]] | None) -> History:
    """The loop itself, for arguments :func:`fit` has checked."""
    optimizer = _adamw(list(model.parameters()), lr, weight_decay)
    n = len(train_images)
    steps_per_epoch = math.ceil(n / batch_size) - (n > batch_size and n % batch_size == 1)   # see _epoch_batches
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)
                 if lr_schedule == "cosine" else None)
    generator = torch.Generator().manual_seed(seed)
    history = History()
    best_val, best_state, since_best = math.inf, None, 0

    bar = tqdm(range(epochs), desc="epochs", unit="epoch", disable=not progress)
    for epoch in bar:
        start = time.perf_counter()
        model.train()
        totals: dict[str, Tensor] = {}
        for idx in _epoch_batches(len(train_images), batch_size, generator, device):
            batch = train_images[idx]
            terms = as_terms(loss_fn(model, batch), expected=totals.keys() if totals else None)
            if not terms["loss"].requires_grad:
                raise ValueError("loss_fn's 'loss' carries no gradient: it was computed under torch.no_grad(), "
                                 "detached, or rebuilt from .item()/numpy; return the tensor the model's output "
                                 "produced")
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            for name, value in terms.items():  # summed on the device: no GPU sync per step
                totals[name] = totals.get(name, 0.0) + value.detach() * len(idx)
        train_terms = {name: float(total) / len(train_images) for name, total in totals.items()}
        _check_finite(train_terms, f"in epoch {epoch + 1}, the training term", lr)
        _append(history.train, train_terms)
        postfix = {"train": f"{train_terms['loss']:.4g}"}
        if val_images is not None:
            val_terms = evaluate(model, loss_fn, val_images)   # raises FloatingPointError for NaN or inf
            _append(history.val, val_terms)
            postfix["val"] = f"{val_terms['loss']:.4g}"
        history.seconds.append(time.perf_counter() - start)
        if measure is not None:
            with eval_mode(model):
                measured = measure(model)
            if not isinstance(measured, dict):
                raise TypeError(f"measure must return a dict of numbers, got {type(measured).__name__}")
            history.measured.append(_numbers(measured))
        bar.set_postfix(postfix)

        if patience is None:
            history.best_epoch = epoch
            continue
        if history.val["loss"][-1] < best_val:
            best_val, since_best, history.best_epoch = history.val["loss"][-1], 0, epoch
            best_state = copy.deepcopy(model.state_dict())
        else:
            since_best += 1
            if since_best >= patience:
                break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history
