"""``--embed MODEL``: image embeddings from a model the user already has, cached per content
digest and model, for the label-noise probe (linear/MLP in cross-validation) and for judging
augmentations (``datacheck augmentations --embed``).

MODEL is one of

- a TorchScript file (``torch.jit.save``): it gets the 32x32 RGB thumbnails the scan cached as
  a float tensor (N, 3, 32, 32) in [0, 1] and returns (N, D) (more dimensions are flattened);
  its identity is the file's content hash, so an edited file is a new model;
- ``torchvision:NAME`` (e.g. ``torchvision:resnet18``), ``timm:NAME``,
  ``open_clip:NAME[@PRETRAINED]``: a pretrained model loaded from the local weights cache only
  (torch hub / Hugging Face offline); a missing package or missing weights is a one-line error.
  These get the thumbnails upsampled to 224x224 with ImageNet normalisation; the classifier head
  is dropped (torchvision ``fc``/``classifier``/``heads``; timm ``num_classes=0``; open_clip
  ``encode_image``).

Embeddings live in ``<feature cache>/embeddings/<model key>.npz`` (digests and vectors); a
re-audit computes only the images that are new for that model.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import BadInputError

log = logging.getLogger(__name__)

FOLDER = "embeddings"
HUBS = ("torchvision", "timm", "open_clip")
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def model_key(spec: str) -> str:
    """A stable identity of the model ``spec`` names (file content hash or hub name)."""
    hub, _, name = spec.partition(":")
    if hub in HUBS and name:
        return f"{hub}-" + hashlib.blake2b(name.encode(), digest_size=8).hexdigest()
    path = Path(spec)
    if not path.is_file():
        raise BadInputError(f"--embed {spec}: no such TorchScript file (or use "
                            f"{', '.join(h + ':NAME' for h in HUBS)})")
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "ts-" + h.hexdigest()


def load_model(spec: str):
    """(callable on a float (N, 3, 32, 32) batch in [0, 1] -> (N, D) tensor)."""
    import torch
    import torch.nn.functional as F

    hub, _, name = spec.partition(":")
    if hub not in HUBS or not name:
        try:
            with warnings.catch_warnings():  # deprecated in torch 2.13, still the format asked
                warnings.simplefilter("ignore", DeprecationWarning)
                net = torch.jit.load(spec, map_location="cpu").eval()
        except Exception as exc:
            raise BadInputError(f"--embed {spec}: not a TorchScript model ({exc})") from None
        return lambda x: net(x)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never download in an audit
    try:
        net, prepare = _hub_model(hub, name)
    except BadInputError:
        raise
    except ImportError:
        extra = {"torchvision": "torchvision", "timm": "timm", "open_clip": "open_clip_torch"}
        raise BadInputError(f"--embed {spec}: {hub} is not installed (pip install "
                            f"{extra[hub]}, or datacheck[{'clip' if hub == 'open_clip' else hub}])"
                            ) from None
    except Exception as exc:
        raise BadInputError(f"--embed {spec}: cannot load it from the local cache, and "
                            f"datacheck does not download ({str(exc).splitlines()[0][:200]})"
                            ) from None
    net.eval()
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)

    def run(x):
        x = F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False)
        return prepare((x - mean) / std)
    return run


def _hub_model(hub: str, name: str):
    import torch

    if hub == "torchvision":
        import torchvision

        weights = torchvision.models.get_model_weights(name).DEFAULT
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        if not cached.exists():
            raise BadInputError(f"--embed torchvision:{name}: weights {cached.name} are not in "
                                f"{cached.parent} (datacheck does not download; fetch them "
                                f"once with torchvision)")
        net = torchvision.models.get_model(name, weights=weights)
        for head in ("fc", "classifier", "heads"):
            if hasattr(net, head):
                setattr(net, head, torch.nn.Identity())
        return net, net
    if hub == "timm":
        import timm

        net = timm.create_model(name, pretrained=True, num_classes=0)
        return net, net
    import open_clip

    arch, _, tag = name.partition("@")
    net, _, _ = open_clip.create_model_and_transforms(arch, pretrained=tag or None)
    return net, net.encode_image


def embeddings(spec: str, digests, thumbs_of, folder, *, batch_size: int = 256,
               progress: bool = True) -> np.ndarray:
    """(len(digests), D) float32 embeddings from model ``spec``: cached ones read from
    ``folder``, the others computed from ``thumbs_of(positions)`` (uint8 N x 32 x 32 x 3 of
    those positions in ``digests``) and added to the cache."""
    key = model_key(spec)
    path = Path(folder) / FOLDER / f"{key}.npz"
    known: dict[str, np.ndarray] = {}
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                known = dict(zip(z["digests"].tolist(), z["vectors"]))
        except Exception as exc:
            log.warning("embedding cache %s is unreadable (%s); recomputing", path, exc)
    digests = [str(d) for d in digests]
    missing = sorted({d for d in digests if d not in known})
    if missing:
        where = {d: i for i, d in enumerate(digests)}
        positions = np.array([where[d] for d in missing])
        vectors = embed_thumbs(spec, lambda start, stop: thumbs_of(positions[start:stop]),
                               len(positions), batch_size=batch_size, progress=progress)
        dims = {v.shape[-1] for v in known.values()}
        if dims and dims != {vectors.shape[1]}:
            known = {}  # same key, other output size: cannot happen for one file; be safe
        known.update(zip(missing, vectors))
        _save(path, known)
    return np.stack([known[d] for d in digests]).astype(np.float32)


def embed_thumbs(spec: str, batch_of, count: int, *, batch_size: int = 256,
                 progress: bool = True) -> np.ndarray:
    """(count, D) float32 embeddings of thumbnails from model ``spec``, not cached:
    ``batch_of(start, stop)`` gives uint8 (stop - start) x 32 x 32 x 3 thumbnails."""
    import torch
    from tqdm import tqdm

    run = load_model(spec)
    out = []
    with torch.no_grad():
        for start in tqdm(range(0, count, batch_size), desc="embedding", unit="batch",
                          disable=None if progress else True, leave=False):
            thumbs = batch_of(start, min(start + batch_size, count))
            x = torch.as_tensor(thumbs).permute(0, 3, 1, 2).float() / 255.0
            try:
                y = run(x)
            except Exception as exc:
                raise BadInputError(f"--embed {spec}: the model failed on a (N, 3, 32, 32) "
                                    f"batch in [0, 1] ({str(exc).splitlines()[0][:200]})"
                                    ) from None
            out.append(np.asarray(y.float().reshape(len(x), -1), dtype=np.float32))
    return np.concatenate(out)


def _save(path: Path, known: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.npz")
        keys = list(known)
        np.savez(tmp, digests=np.array(keys), vectors=np.stack([known[k] for k in keys]))
        tmp.replace(path)
    except OSError as exc:
        log.warning("cannot cache embeddings in %s (%s)", path.parent, exc)
