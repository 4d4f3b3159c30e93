"""The one training loop of the course: minibatch gradient descent on data that sits on the device."""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .data import minibatches
from .losses import LossFn
from .metrics import as_terms, eval_mode, evaluate
from .runtime import get_device
from .validation import check_choice, check_images, check_positive_int

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
    over the run. Each epoch visits every image once in an order drawn from a generator seeded with ``seed``.
    ``loss_fn`` returns a scalar tensor or a dict of scalars with a ``"loss"`` entry (the one minimised).
    With ``val_images``, the validation loss is measured after every epoch; with ``patience`` as well, training
    stops after that many epochs without improvement and the model is left with its best weights.
    The model and data are moved to ``device`` (default: :func:`aecourse.get_device`). ``measure(model)``, if given,
    runs after every epoch with the model in eval mode and without gradients; the dict of numbers it returns is
    appended to ``History.measured`` (e.g. a test metric other than the loss). Returns a :class:`History`.
    """
    if measure is not None and not callable(measure):
        raise TypeError(f"measure must be a function of the model returning a dict, got {type(measure).__name__}")
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    check_choice(lr_schedule, "lr_schedule", LR_SCHEDULES)
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if patience is not None:
        check_positive_int(patience, "patience")
        if val_images is None:
            raise ValueError("patience (early stopping) needs val_images to watch")
    device = get_device() if device is None else torch.device(device)
    train_images = check_images(train_images, "train_images").to(device)
    if val_images is not None:
        val_images = check_images(val_images, "val_images").to(device)
    model.to(device)
    if device.type == "cpu" and any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules()):
        # oneDNN's convolutions run about twice as fast on channels-last weights on a CPU (measured for the
        # ConvAutoencoder decoders); results are the same up to float rounding. GPUs keep the default layout.
        model.to(memory_format=torch.channels_last)

    optimizer = _adamw(list(model.parameters()), lr, weight_decay)
    steps_per_epoch = math.ceil(len(train_images) / batch_size)
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
        for idx in minibatches(len(train_images), batch_size, generator=generator, device=device):
            batch = train_images[idx]
            terms = as_terms(loss_fn(model, batch))
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            for name, value in terms.items():  # summed on the device: no GPU sync per step
                totals[name] = totals.get(name, 0.0) + value.detach() * len(idx)
        train_terms = {name: float(total) / len(train_images) for name, total in totals.items()}
        if not math.isfinite(train_terms["loss"]):
            raise FloatingPointError(f"training loss became {train_terms['loss']} in epoch {epoch + 1}; "
                                     f"try a smaller lr (now {lr}) or check loss_fn")
        _append(history.train, train_terms)
        postfix = {"train": f"{train_terms['loss']:.4g}"}
        if val_images is not None:
            val_terms = evaluate(model, loss_fn, val_images)
            _append(history.val, val_terms)
            postfix["val"] = f"{val_terms['loss']:.4g}"
        history.seconds.append(time.perf_counter() - start)
        if measure is not None:
            with eval_mode(model):
                measured = measure(model)
            if not isinstance(measured, dict):
                raise TypeError(f"measure must return a dict of numbers, got {type(measured).__name__}")
            history.measured.append({name: float(value) for name, value in measured.items()})
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
