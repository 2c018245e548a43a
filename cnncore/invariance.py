"""Translations and what they do to a trained network: shifts with zero fill or circular wrap,
accuracy by shift (1-D directions and a 2-D grid), agreement with the unshifted prediction,
Zhang's consistency, a per-class breakdown, the ink a shift pushes out of the frame, the 17x17
grid of one digit's shifted copies, and pixel permutations.

Shifts move raw pixels (0 = blank) before the model standardises them, so zero fill is a blank
border. A shift ``(dx, dy)`` moves the digit ``dx`` pixels right and ``dy`` pixels down. Zero fill
(``mode="zero"``, the default): ``out[y, x] = in[y - dy, x - dx]`` where that is inside the frame,
else 0; ink pushed over the edge is lost. Circular (``mode="circular"``): the frame is a torus,
``out[y, x] = in[(y - dy) mod H, (x - dx) mod W]``, which is ``torch.roll``: nothing is lost, ink
leaving one edge comes back at the other.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from cnncore.data import Split, to_float
from cnncore.errors import UserError
from cnncore.train import EVAL_BATCH, autocast, predict_proba

Shift = tuple[int, int]

# direction name -> unit step (dx, dy); "mean" in tables is the mean of the four axis directions
DIRECTIONS = {
    "right": (1, 0),
    "left": (-1, 0),
    "down": (0, 1),
    "up": (0, -1),
    "down-right": (1, 1),
    "up-left": (-1, -1),
    "up-right": (1, -1),
    "down-left": (-1, 1),
}
AXES = ("right", "left", "down", "up")
MAX_SHIFT = 8  # beyond this a 28x28 digit has lost most of its ink; nothing left to measure
SHIFT_MODES = {
    "zero": "zero fill (ink pushed over the edge is lost)",
    "circular": "circular (ink leaving one edge comes back at the other)",
}


def check_mode(mode: str) -> str:
    if mode not in SHIFT_MODES:
        raise UserError(f"unknown shift mode {mode!r}; use one of {', '.join(SHIFT_MODES)}")
    return mode


def check_max_shift(k, low: int = 0) -> int:
    if not isinstance(k, int) or isinstance(k, bool) or not low <= k <= MAX_SHIFT:
        raise UserError(
            f"the shift range must be a whole number of pixels from {low} to {MAX_SHIFT} "
            f"(got {k!r}); past {MAX_SHIFT} px most digits have left the 28x28 frame"
        )
    return k


# ------------------------------------------------------------------------------------ shifting


def shift_images(images: torch.Tensor, dx, dy, mode: str = "zero") -> torch.Tensor:
    """Shift images [N, C, H, W] (any dtype) by (dx, dy) pixels, with zero fill or circularly.

    ``dx``/``dy`` are ints (one shift for the whole batch) or int tensors [N] (one per image)."""
    check_mode(mode)
    if isinstance(dx, torch.Tensor) or isinstance(dy, torch.Tensor):
        return _shift_each(images, torch.as_tensor(dx), torch.as_tensor(dy), mode)
    dx, dy = int(dx), int(dy)
    if mode == "circular":
        return torch.roll(images, shifts=(dy, dx), dims=(-2, -1))
    h, w = images.shape[-2:]
    out = torch.zeros_like(images)
    if abs(dx) >= w or abs(dy) >= h:
        return out
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = images[
        ..., max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
    ]
    return out


def _shift_each(
    images: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, mode: str = "zero"
) -> torch.Tensor:
    n, _, h, w = images.shape
    dx, dy = dx.long().expand(n), dy.long().expand(n)
    if mode == "circular":  # gather from (y - dy) mod H, (x - dx) mod W
        dev = images.device
        rows = (torch.arange(h, device=dev) - dy[:, None].to(dev)) % h  # [N, H]
        cols = (torch.arange(w, device=dev) - dx[:, None].to(dev)) % w  # [N, W]
        batch = torch.arange(n, device=dev)[:, None, None]
        picked = images.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
        return picked.permute(0, 3, 1, 2)
    s = int(max(dx.abs().max(), dy.abs().max(), 0)) if n else 0
    s = min(s, max(h, w))
    padded = torch.nn.functional.pad(images, (s, s, s, s))  # zeros all round
    dev = images.device
    rows = (torch.arange(h, device=dev) + s - dy[:, None]).clamp(0, h + 2 * s - 1)  # [N, H]
    cols = (torch.arange(w, device=dev) + s - dx[:, None]).clamp(0, w + 2 * s - 1)  # [N, W]
    batch = torch.arange(n, device=dev)[:, None, None]
    # [N, H, W, C] -> [N, C, H, W]
    return padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def random_shift(
    images: torch.Tensor, max_shift: int, generator: torch.Generator, mode: str = "zero"
) -> torch.Tensor:
    """Shift each image [N, 1, H, W] by its own random (dx, dy) in [-s, s]^2 (training-time
    augmentation and consistency). ``generator`` is a CPU generator; the result stays on the
    images' device."""
    n = len(images)
    d = torch.randint(-max_shift, max_shift + 1, (2, n), generator=generator)
    return _shift_each(images, d[0].to(images.device), d[1].to(images.device), mode)


def ink_lost(images: torch.Tensor, max_shift: int) -> pd.DataFrame:
    """For k = 0..K: the mean fraction of each digit's ink (pixel sum) pushed out of the frame by
    a k-pixel shift (mean over the four axis directions), and the fraction of digits that lose
    more than 1% of their ink. images: uint8 [N, 1, 28, 28]."""
    x = images.float()
    total = x.sum(dim=(1, 2, 3)).clamp_min(1e-9)
    rows = []
    for k in range(max_shift + 1):
        lost = torch.stack(
            [
                1 - shift_images(x, k * ux, k * uy).sum(dim=(1, 2, 3)) / total
                for ux, uy in (DIRECTIONS[a] for a in AXES)
            ]
        )
        rows.append(
            {
                "shift": k,
                "ink_lost": lost.mean().item(),
                "digits_losing_ink": (lost > 0.01).float().mean().item(),
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------- predicting


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, precision: str = "fp32") -> torch.Tensor:
    """Predicted classes int64 [N] for uint8 (or float [0, 1]) images [N, 1, 28, 28]."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, len(images), EVAL_BATCH):
        chunk = images[i : i + EVAL_BATCH]
        x = to_float(chunk) if chunk.dtype == torch.uint8 else chunk.float()
        with autocast(device, precision):
            out.append(model(x.to(device)).argmax(1).cpu())
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long)


def shifts_needed(max_shift: int, grid: bool) -> list[Shift]:
    """The shifts a report needs: the 2-D grid [-K, K]^2 (which holds every direction), or only
    the eight 1-D directions."""
    if grid:
        r = range(-max_shift, max_shift + 1)
        return [(dx, dy) for dy in r for dx in r]
    return [(0, 0)] + [
        (k * ux, k * uy) for k in range(1, max_shift + 1) for ux, uy in DIRECTIONS.values()
    ]


def predict_shifted(
    model: nn.Module,
    images: torch.Tensor,
    shifts: list[Shift],
    precision: str = "fp32",
    on_shift=None,
    mode: str = "zero",
) -> dict[Shift, torch.Tensor]:
    """Predictions for every shifted copy of ``images``: {(dx, dy): int64 [N]}."""
    preds = {}
    for i, (dx, dy) in enumerate(shifts):
        preds[(dx, dy)] = predict(model, shift_images(images, dx, dy, mode), precision)
        if on_shift:
            on_shift(i + 1, len(shifts))
    return preds


# ------------------------------------------------------------------------------------- tables


def accuracy_by_shift(
    preds: dict[Shift, torch.Tensor], labels: torch.Tensor, max_shift: int
) -> pd.DataFrame:
    """Rows (direction, shift k, accuracy, agreement) for k = 0..K in every direction plus
    "mean" (of the four axis directions). ``agreement``: how often the prediction equals the
    model's own prediction on the unshifted digit (1.0 means invariant, right or wrong)."""
    base = preds[(0, 0)]
    rows = []
    for k in range(max_shift + 1):
        axis_rows = []
        for name, (ux, uy) in DIRECTIONS.items():
            p = preds[(k * ux, k * uy)]
            row = {
                "direction": name,
                "shift": k,
                "accuracy": (p == labels).float().mean().item(),
                "agreement": (p == base).float().mean().item(),
            }
            rows.append(row)
            if name in AXES:
                axis_rows.append(row)
        rows.append(
            {
                "direction": "mean",
                "shift": k,
                **{m: sum(r[m] for r in axis_rows) / len(AXES) for m in ("accuracy", "agreement")},
            }
        )
    return pd.DataFrame(rows)


def ink_kept(images: torch.Tensor, shifts: list[Shift]) -> dict[Shift, torch.Tensor]:
    """For each zero-fill shift: which digits keep all their ink in the frame, bool [N] (for
    these, the zero-fill shift equals the circular one). images: uint8 [N, 1, H, W]."""
    total = images.sum(dim=(1, 2, 3), dtype=torch.int64)
    return {
        (dx, dy): shift_images(images, dx, dy).sum(dim=(1, 2, 3), dtype=torch.int64) == total
        for dx, dy in shifts
    }


def agreement_where_ink_kept(
    preds: dict[Shift, torch.Tensor], kept: dict[Shift, torch.Tensor]
) -> float:
    """How often a shifted digit that kept all its ink gets the unshifted prediction, over every
    (shift, digit) pair in ``preds`` except (0, 0). NaN if no digit kept its ink."""
    base = preds[(0, 0)]
    same = [(p == base)[kept[s]] for s, p in preds.items() if s != (0, 0)]
    same = torch.cat(same) if same else torch.empty(0, dtype=torch.bool)
    return same.float().mean().item() if len(same) else float("nan")


def accuracy_grid(
    preds: dict[Shift, torch.Tensor], labels: torch.Tensor, max_shift: int
) -> pd.DataFrame:
    """Rows (dx, dy, accuracy, agreement) over the 2-D grid dx, dy in [-K, K]."""
    base = preds[(0, 0)]
    r = range(-max_shift, max_shift + 1)
    return pd.DataFrame(
        [
            {
                "dx": dx,
                "dy": dy,
                "accuracy": (preds[(dx, dy)] == labels).float().mean().item(),
                "agreement": (preds[(dx, dy)] == base).float().mean().item(),
            }
            for dy in r
            for dx in r
        ]
    )


def per_class_accuracy(
    preds: dict[Shift, torch.Tensor], labels: torch.Tensor, max_shift: int
) -> pd.DataFrame:
    """Rows (digit, shift k, accuracy): accuracy on each class, mean of the four axis directions."""
    rows = []
    for k in range(max_shift + 1):
        hits = (
            torch.stack(
                [preds[(k * ux, k * uy)] == labels for ux, uy in (DIRECTIONS[a] for a in AXES)]
            )
            .float()
            .mean(0)
        )
        for c in range(10):
            mask = labels == c
            if mask.any():
                rows.append({"digit": c, "shift": k, "accuracy": hits[mask].mean().item()})
    return pd.DataFrame(rows)


def consistency(
    model: nn.Module,
    images: torch.Tensor,
    max_shift: int,
    seed: int = 0,
    draws: int = 2,
    precision: str = "fp32",
    mode: str = "zero",
) -> float:
    """Zhang (2019)'s consistency C(K): how often the model predicts the same class for the same
    digit under two independent random shifts in [-K, K]^2, averaged over ``draws`` pairs."""
    gen = torch.Generator().manual_seed(seed)
    same = []
    for _ in range(draws):
        a = predict(model, random_shift(images, max_shift, gen, mode), precision)
        b = predict(model, random_shift(images, max_shift, gen, mode), precision)
        same.append((a == b).float().mean().item())
    return sum(same) / len(same)


# -------------------------------------------------------------------------------- permutation


def pixel_permutation(seed: int = 0, n_pixels: int = 784) -> torch.Tensor:
    """One fixed scramble of the pixels: a permutation of 0..n-1, int64 [n] (same seed, same one)."""
    return torch.randperm(n_pixels, generator=torch.Generator().manual_seed(seed))


def permute_pixels(images: torch.Tensor, permutation: torch.Tensor) -> torch.Tensor:
    """Scramble images [N, C, H, W]: output pixel i is input pixel ``permutation[i]``."""
    flat = images.reshape(len(images), -1)
    if len(permutation) != flat.shape[1]:
        raise UserError(
            f"a permutation of {len(permutation)} pixels does not fit {flat.shape[1]}-pixel images"
        )
    return flat[:, permutation].reshape(images.shape)


def permute_split(split: Split, permutation: torch.Tensor) -> Split:
    return Split(permute_pixels(split.images, permutation), split.labels)


# -------------------------------------------------------------------------------- equivariance


def _check_equivariant(model: nn.Module) -> None:
    if not hasattr(model, "feature_maps"):
        raise UserError("feature maps need a ConvNet; a fully connected net has no maps to shift")
    if getattr(getattr(model, "config", None), "pool", False):
        raise UserError(
            "a pooled ConvNet halves positions twice, so its maps cannot be shifted back by whole "
            "pixels; choose the lesson's ConvNet, the GAP variant or the circular one"
        )


@torch.no_grad()
def _last_relu_maps(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, str, int]:
    """The maps after the last ReLU of the convolutional stack for float images x [N, 1, 28, 28]:
    (maps [N, C, h, w], layer description, 1-based number of the convolution they come from)."""
    was_training = model.training
    model.eval()
    layers = model.feature_maps(x)
    model.train(was_training)
    relus = [i for i, (name, _) in enumerate(layers) if name == "ReLU"]
    i = relus[-1] if relus else len(layers) - 1
    conv = sum(name == "Conv2d" for name, _ in layers[: i + 1])
    return layers[i][1], f"after layer {i + 1} ({layers[i][0]})", conv


def _map_mode(model: nn.Module, mode: str) -> str:
    """How maps shift back: circularly only when the shift and the padding both wrap round."""
    wraps = mode == "circular" and getattr(model.config, "padding", "valid") == "circular"
    return "circular" if wraps else "zero"


def _compare_maps(
    a: torch.Tensor, b: torch.Tensor, dx: int, dy: int, map_mode: str, layer: str, conv: int
) -> dict:
    """The equivariance dict for the digit's maps ``a`` and the shifted digit's maps ``b``
    (float [C, h, w]): b minus a moved by (dx, dy), NaN where the shift uncovered a strip."""
    moved = shift_images(a.unsqueeze(0), dx, dy, map_mode)[0]
    ones = torch.ones_like(a[:1]).unsqueeze(0)
    valid = shift_images(ones, dx, dy, map_mode)[0].bool().expand_as(a)
    diff = torch.where(valid, b - moved, torch.full_like(a, float("nan")))
    return {
        "layer": layer,
        "conv": conv,  # which convolution (1-based) the maps come from
        "original": a,
        "shifted": b,
        "difference": diff,
        "max_difference": float(diff[valid].abs().max()) if valid.any() else 0.0,
        "scale": float(max(a.abs().max(), b.abs().max(), 1e-9)),
    }


def equivariance(
    model: nn.Module, image: torch.Tensor, dx: int, dy: int, mode: str = "zero"
) -> dict:
    """Feature maps of a ConvNet for one digit and for its shifted copy, and their difference
    after shifting the first maps by the same (dx, dy). For a stride-1 convolution the
    difference is exactly 0 wherever it is defined: everywhere for a circular shift through
    circular padding; elsewhere the strip the shift uncovered is NaN (a valid convolution's map
    at p reads input p..p+4, so it moves with the digit, but what comes in at the edge is new).
    image: uint8 or float [1, 28, 28] or [1, 1, 28, 28]. Returns {"layer", "original",
    "shifted", "difference"} with maps float [C, h, w] of the last ReLU, plus "conv" (the number
    of the convolution those maps come from, 1-based), "max_difference" and "scale" (the largest
    |activation|)."""
    _check_equivariant(model)
    x = image.reshape(1, 1, 28, 28)
    x = to_float(x) if x.dtype == torch.uint8 else x.float()
    a, layer, conv = _last_relu_maps(model, x)
    b, _, _ = _last_relu_maps(model, shift_images(x, dx, dy, mode))
    return _compare_maps(a[0], b[0], dx, dy, _map_mode(model, mode), layer, conv)


@dataclass
class EquivarianceGrid:
    """A ConvNet's last-ReLU maps for one digit and for each of its shifted copies (dx, dy) in
    [-S, S]^2, computed in one batched forward, so that moving a shift slider is a lookup:
    ``at(dx, dy)`` gives what ``equivariance(model, image, dx, dy, mode)`` gives."""

    max_shift: int  # S
    map_mode: str  # how maps shift back ("circular" only for a circular model and shift)
    layer: str
    conv: int
    maps: torch.Tensor  # float [2S+1, 2S+1, C, h, w], indexed [dy + S, dx + S]

    def at(self, dx: int, dy: int) -> dict:
        s = self.max_shift
        if not (-s <= dx <= s and -s <= dy <= s):
            raise UserError(f"shifts go from -{s} to {s} px (got dx={dx}, dy={dy})")
        a, b = self.maps[s, s], self.maps[dy + s, dx + s]
        return _compare_maps(a, b, dx, dy, self.map_mode, self.layer, self.conv)


def equivariance_grid(
    model: nn.Module, image: torch.Tensor, mode: str = "zero", max_shift: int = MAX_SHIFT
) -> EquivarianceGrid:
    """``EquivarianceGrid`` of one digit (uint8 or float [1, 28, 28]): one forward of the
    (2S+1)^2 shifted copies (289 for S = 8)."""
    _check_equivariant(model)
    check_mode(mode)
    copies, side = _shifted_copies(image, mode, max_shift)
    x = to_float(copies) if copies.dtype == torch.uint8 else copies.float()
    maps, layer, conv = _last_relu_maps(model, x)
    maps = maps.reshape(side, side, *maps.shape[1:])
    return EquivarianceGrid(max_shift, _map_mode(model, mode), layer, conv, maps)


@torch.no_grad()
def hidden_grid(
    model: nn.Module, image: torch.Tensor, mode: str = "zero", max_shift: int = MAX_SHIFT
):
    """A fully connected net's hidden units for every shifted copy of one digit: float
    [2S+1, 2S+1, hidden], indexed [dy + S, dx + S] (the unshifted digit at [S, S])."""
    check_mode(mode)
    copies, side = _shifted_copies(image, mode, max_shift)
    x = to_float(copies) if copies.dtype == torch.uint8 else copies.float()
    was_training = model.training
    model.eval()
    h = model.hidden_activations(x)
    model.train(was_training)
    return h.reshape(side, side, -1)


def _shifted_copies(image: torch.Tensor, mode: str, max_shift: int) -> tuple[torch.Tensor, int]:
    """Every shifted copy of one digit [1, 28, 28] for (dx, dy) in [-S, S]^2, row-major in
    (dy, dx): [(2S+1)^2, 1, 28, 28] in the image's dtype, and the side 2S+1."""
    side = 2 * max_shift + 1
    r = torch.arange(-max_shift, max_shift + 1)
    dy, dx = (t.flatten() for t in torch.meshgrid(r, r, indexing="ij"))  # row-major: [dy, dx]
    copies = image.reshape(1, 1, 28, 28).expand(side * side, 1, 28, 28)
    return shift_images(copies, dx, dy, mode), side


# ------------------------------------------------------------------------ one digit, every shift


@dataclass
class ShiftGrid:
    """One digit's shifted copies for every (dx, dy) in [-S, S]^2 and each model's class
    probabilities for each, computed once so that moving a shift slider is a lookup."""

    max_shift: int  # S
    mode: str  # "zero" or "circular"
    images: torch.Tensor  # uint8 [2S+1, 2S+1, 28, 28], indexed [dy + S, dx + S]
    probs: dict[str, torch.Tensor]  # model name -> float [2S+1, 2S+1, 10]

    def _index(self, dx: int, dy: int) -> tuple[int, int]:
        s = self.max_shift
        if not (-s <= dx <= s and -s <= dy <= s):
            raise UserError(f"shifts go from -{s} to {s} px (got dx={dx}, dy={dy})")
        return dy + s, dx + s

    def image(self, dx: int, dy: int) -> torch.Tensor:
        """The shifted digit, uint8 [28, 28]."""
        return self.images[self._index(dx, dy)]

    def probabilities(self, dx: int, dy: int) -> dict[str, torch.Tensor]:
        """Each model's probabilities for the shifted digit, float [10]."""
        i = self._index(dx, dy)
        return {name: p[i] for name, p in self.probs.items()}


def shift_grid(
    models: dict[str, nn.Module],
    image: torch.Tensor,
    mode: str = "zero",
    max_shift: int = MAX_SHIFT,
) -> ShiftGrid:
    """Every shifted copy of one digit (uint8 [1, 28, 28]) and every model's probabilities for
    them: one batched forward of (2S+1)^2 images (289 for S = 8) per model."""

    check_mode(mode)
    shifted, side = _shifted_copies(image, mode, max_shift)  # [side*side, 1, 28, 28]
    probs = {name: predict_proba(m, shifted).reshape(side, side, 10) for name, m in models.items()}
    return ShiftGrid(max_shift, mode, shifted.reshape(side, side, 28, 28), probs)


def digit_from_drawing(rgba) -> torch.Tensor:
    """A drawn digit (array [H, W, 4], white strokes on black, as the drawing canvas gives) made
    MNIST-like: the ink's bounding box scaled to fit 20x20, centred by its centre of mass in a
    28x28 frame. Returns uint8 [1, 28, 28]. An empty drawing raises UserError."""
    t = torch.as_tensor(rgba).float()
    ink = t[..., :3].mean(-1) * (t[..., 3] / 255) if t.shape[-1] == 4 else t[..., 0]
    if ink.max() < 16:
        raise UserError("the drawing is empty: draw a digit in the box (white on black) first")
    rows, cols = (ink > 16).any(1).nonzero(), (ink > 16).any(0).nonzero()
    box = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    h, w = box.shape
    scale = 20 / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    small = torch.nn.functional.interpolate(box[None, None], size=size, mode="area")[0, 0]
    frame = torch.zeros(28, 28)
    top, left = (28 - size[0]) // 2, (28 - size[1]) // 2
    frame[top : top + size[0], left : left + size[1]] = small
    ys, xs = torch.arange(28.0), torch.arange(28.0)
    total = frame.sum()
    cy, cx = (frame.sum(1) * ys).sum() / total, (frame.sum(0) * xs).sum() / total
    frame = shift_images(frame[None, None], round(13.5 - float(cx)), round(13.5 - float(cy)))[0, 0]
    frame = frame / frame.max() * 255
    return frame.round().clamp(0, 255).to(torch.uint8)[None]
