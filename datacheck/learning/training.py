"""Training and prediction primitives of the cross-validated models (:mod:`learning.models`):
the data on the device, the model for a recipe, one training run with augmentation and
small-loss training, and predictions with test-time views."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .nets import SmallResNet, WhitenedNet, as_float, mlp
from .recipes import SMALL_LOSS_AFTER, Recipe

#: Training images whose patches whiten the cnn's first layer (at most).
WHITEN_SAMPLE = 5000


def _translate(x: torch.Tensor, pixels: int, generator: torch.Generator,
               border: str = "constant") -> torch.Tensor:
    """Shift each image by up to ``pixels`` in x and y, on x's device; ``border``: zero fill
    (``constant``) or ``reflect``."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pixels, pixels, pixels, pixels), mode=border)
    dx = torch.randint(0, 2 * pixels + 1, (n,), generator=generator, device="cpu")
    dy = torch.randint(0, 2 * pixels + 1, (n,), generator=generator, device="cpu")
    rows = (dy[:, None] + torch.arange(h)[None, :]).to(x.device)
    cols = (dx[:, None] + torch.arange(w)[None, :]).to(x.device)
    idx_n = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]].permute(
        0, 3, 1, 2)


def to_device(x: np.ndarray, model: str, side: int, dev: torch.device) -> torch.Tensor:
    if x.ndim == 4:
        t = torch.as_tensor(x, device=dev).permute(0, 3, 1, 2)  # uint8 stays uint8 until used
        if t.shape[-1] != side or t.shape[-2] != side:  # in chunks: no float copy of it all
            t = torch.cat([F.interpolate(t[k:k + 8192].float(), size=(side, side),
                                         mode="area").round().to(torch.uint8)
                           for k in range(0, len(t), 8192)])
        if model != "cnn":
            t = t.reshape(len(t), -1)
        return t
    feats = torch.as_tensor(x.reshape(len(x), -1), dtype=torch.float32, device=dev)
    mean, std = feats.mean(0, keepdim=True), feats.std(0, keepdim=True).clamp_min(1e-6)
    return (feats - mean) / std


def build(rc: Recipe, data: torch.Tensor, train: torch.Tensor, classes: int) -> nn.Module:
    """The model for ``rc``; the cnn's first layer whitens the ``train`` rows' patches."""
    if rc.net == "whitened":
        net = WhitenedNet(data.shape[1], classes, width=rc.width)
        sample = np.linspace(0, len(train) - 1, min(len(train), WHITEN_SAMPLE)).astype(int)
        net.whiten_from(data[train[torch.as_tensor(sample, device=train.device)]])
    elif rc.net == "resnet":
        net = SmallResNet(data.shape[1], classes, width=rc.width)
    else:
        return mlp(data.shape[1], classes) if rc.model == "mlp" else nn.Linear(data.shape[1],
                                                                                classes)
    net.side, net.mirror = rc.side, rc.mirror  # read by predict
    net.bf16 = rc.precision == "bf16"  # read by predict
    # channels-last pays with bfloat16 (a bf16 step 1.7x faster on an AMD EPYC); float32 keeps
    # NCHW, where channels-last measured no faster end to end (CIFAR-10 10k CV: 200 s and 357
    # CPU s, against 184 s and 363 CPU s)
    return net.to(memory_format=torch.channels_last) if net.bf16 else net


def fit(net, data, target, train, rc: Recipe, *, augment, seed, on_epoch=None):
    gen = torch.Generator().manual_seed(seed)
    opt, whitened, bf16 = optimizer(net, rc), rc.net == "whitened", rc.precision == "bf16"
    steps = rc.epochs * -(-len(train) // rc.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=rc.lr, total_steps=steps,
                                                pct_start=0.25 if whitened else 0.3)
    warm_up = SMALL_LOSS_AFTER * rc.epochs
    net.train()
    for epoch in range(rc.epochs):
        order = train[torch.randperm(len(train), generator=gen).to(train.device)]
        for start in range(0, len(order), rc.batch_size):
            idx = order[start:start + rc.batch_size]
            xb = as_float(data[idx])
            if augment:
                xb = _translate(xb, max(1, xb.shape[-1] // 16), gen,
                                "reflect" if whitened else "constant")
                if rc.mirror:
                    xb = _mirror(xb, gen)
            if bf16:  # only the cnn trains in bf16: images
                xb = xb.contiguous(memory_format=torch.channels_last)
            with _autocast(data.device, bf16):
                losses = F.cross_entropy(net(xb).float(), target[idx],
                                         label_smoothing=rc.smoothing, reduction="none")
            loss = small_loss(losses, target[idx], rc.drop if epoch >= warm_up else 0.0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        if on_epoch:
            on_epoch()


def small_loss(losses: torch.Tensor, labels: torch.Tensor, drop: float) -> torch.Tensor:
    """The mean of a batch's losses without the highest ``drop`` share of each class's losses
    in the batch (small-loss training: the images with the highest loss are the likeliest to
    be mislabelled). Per class, so that a class that is hard as a whole (the one grey photo
    among colour ones) is not left out batch after batch until the model unlearns it."""
    if drop <= 0:
        return losses.mean()
    order = torch.argsort(losses, descending=True)
    _, cls = torch.unique(labels[order], return_inverse=True)
    onehot = F.one_hot(cls).to(losses.dtype)
    rank = (onehot.cumsum(0) * onehot).sum(1) - 1  # 0: the highest loss of its class
    count = onehot.sum(0)[cls]
    left_out = count - torch.clamp(torch.round(count * (1 - drop)), min=1)
    return losses[order][rank >= left_out].mean()


def optimizer(net: nn.Module, rc: Recipe) -> torch.optim.Optimizer:
    """The whitened net: SGD with Nesterov momentum, weight decay on weights only
    (airbench); the others: AdamW."""
    params = [p for p in net.parameters() if p.requires_grad]
    if rc.net != "whitened":
        return torch.optim.AdamW(params, lr=rc.lr, weight_decay=rc.decay)
    return torch.optim.SGD([{"params": [p for p in params if p.ndim > 1]},
                            {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0}],
                           lr=rc.lr, momentum=0.9, nesterov=True, weight_decay=rc.decay)


def _autocast(dev: torch.device, bf16: bool):
    """bfloat16 autocast on ``dev`` when the recipe says so (CUDA, and CPUs that compute
    bfloat16 in hardware: :func:`recipes.cpu_has_bf16`)."""
    return torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16)


def _mirror(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror a random half of the images left-right."""
    flip = (torch.rand(len(x), generator=generator) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(3), x)


#: Test-time shifts (dx, dy) averaged for image models: steadier out-of-fold probabilities.
TTA_SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))


@torch.no_grad()
def predict(net, data, batch_size, tta: bool = True) -> np.ndarray:
    """Class probabilities of ``data``'s rows, averaged over test-time views (shifts and, for
    a mirrored recipe, a mirror) unless ``tta`` is off. Image models predict in channels-last
    layout whatever they trained in (a float32 forward pass 1.3-2x faster on an AVX2 CPU),
    and are handed back in their own layout."""
    net.eval()
    out = []
    images, bf16 = data.dim() == 4, getattr(net, "bf16", False)
    side = getattr(net, "side", None)
    layout = torch.channels_last if bf16 else torch.contiguous_format
    if images:
        net.to(memory_format=torch.channels_last)
    try:
        for start in range(0, len(data), batch_size):
            xb = as_float(data[start:start + batch_size])
            if images and side and xb.shape[-1] != side:  # a caller that resized for another side
                xb = F.interpolate(xb, size=(side, side), mode="area")
            views = [torch.roll(xb, shifts=s, dims=(3, 2)) for s in TTA_SHIFTS] \
                if images and tta else [xb]
            if images and tta and getattr(net, "mirror", False):
                views.append(xb.flip(3))
            probs = 0
            for view in views:
                if images:
                    view = view.contiguous(memory_format=torch.channels_last)
                with _autocast(data.device, bf16):
                    probs = probs + torch.softmax(net(view).float(), dim=1)
            out.append((probs / len(views)).cpu().numpy())
    finally:
        if images:
            net.to(memory_format=layout)
    return np.concatenate(out)
