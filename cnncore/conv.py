"""Convolution and pooling, one window position at a time, written out by hand to teach.

``conv_steps`` slides a ``C x k x k`` kernel over a ``C x H x W`` image (zero padding, stride) and
keeps every intermediate: the patch under the window, the elementwise products, each channel's
sum, the total, total + bias, and the activated value. ``pool_steps`` does the same for 2x2 max /
average pooling. Both are checked value for value against ``torch.nn.functional`` in the tests.

Deep learning's "convolution" is cross-correlation (the kernel is not flipped); ``flip=True``
gives the textbook convolution, which is cross-correlation with the kernel rotated 180 degrees.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from cnncore.errors import UserError

ACTIVATIONS = ("none", "relu", "sigmoid")
POOL_MODES = ("max", "avg")
KERNEL_RANGE = (-2.0, 2.0)  # what the page's sliders allow
INPUT_RANGE = (0.0, 1.0)


# --- presets and sample inputs -------------------------------------------------------------


def _t(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


# 3x3 kernels, kept inside the sliders' range (-2..2): textbook kernels that would leave it
# (sharpen's centre 5, outline's 8) are divided by 4, which keeps their shape and their sum's sign.
PRESETS_3 = {
    "X detector (lesson)": _t([[1, -1, 1], [-1, 1, -1], [1, -1, 1]]),
    "vertical edge (Sobel)": _t([[1, 0, -1], [2, 0, -2], [1, 0, -1]]),
    "horizontal edge (Sobel)": _t([[1, 2, 1], [0, 0, 0], [-1, -2, -1]]),
    "blur (Gaussian)": _t([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16,
    "sharpen": _t([[0, -1, 0], [-1, 8, -1], [0, -1, 0]]) / 4,
    "outline": _t([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]) / 4,
    "identity": _t([[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
}
PRESETS = tuple(PRESETS_3)


def preset(name: str, size: int = 3) -> torch.Tensor:
    """A named kernel, float32 [size, size] (size 3 or 5).

    The 5x5 versions: the X detector and the blur are drawn at 5x5; the others are the 3x3 kernel
    in the middle of a zero border (same response, bigger window).
    """
    if name not in PRESETS_3:
        raise UserError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    if size not in (3, 5):
        raise UserError(f"kernel size must be 3 or 5, not {size}")
    if size == 3:
        return PRESETS_3[name].clone()
    if name.startswith("X"):
        eye = torch.eye(5)
        return torch.where((eye + eye.flip(1)) > 0, 1.0, -1.0)
    if name.startswith("blur"):
        g = _t([1, 4, 6, 4, 1])
        return torch.outer(g, g) / 256
    out = torch.zeros(5, 5)
    out[1:4, 1:4] = PRESETS_3[name]
    return out


_EYE5 = torch.eye(5)
SAMPLES = {
    "X (lesson)": ((_EYE5 + _EYE5.flip(1)) > 0).float(),
    "O": _t([[0, 1, 1, 1, 0], [1, 0, 0, 0, 1], [1, 0, 0, 0, 1], [1, 0, 0, 0, 1], [0, 1, 1, 1, 0]]),
    "plus": _t([[0, 0, 1, 0, 0]] * 2 + [[1, 1, 1, 1, 1]] + [[0, 0, 1, 0, 0]] * 2),
    "vertical line": _t([[0, 0, 1, 0, 0]] * 5),
    "diagonal": _EYE5.clone(),
    "blank": torch.zeros(5, 5),
}


def sample(name: str) -> torch.Tensor:
    """A 5x5 sample input, float32 [5, 5] with values in {0, 1}."""
    if name not in SAMPLES:
        raise UserError(f"unknown sample {name!r}; choose one of: {', '.join(SAMPLES)}")
    return SAMPLES[name].clone()


def colour_sample() -> torch.Tensor:
    """A 3-channel 5x5 input, float32 [3, 5, 5]: red X, green O, blue plus."""
    return torch.stack([SAMPLES["X (lesson)"], SAMPLES["O"], SAMPLES["plus"]])


# --- the arithmetic -------------------------------------------------------------------------


def output_size(n: int, k: int, stride: int = 1, padding: int = 0) -> int:
    """Positions a k-wide window takes along an n-wide input: floor((n + 2p - k) / s) + 1.

    Raises ``UserError`` (with the reason) when the window does not fit at all.
    """
    if stride < 1:
        raise UserError(f"stride must be at least 1, not {stride}")
    if padding < 0:
        raise UserError(f"padding cannot be negative ({padding})")
    if n + 2 * padding < k:
        raise UserError(
            f"no output: the {k}x{k} window is larger than the {n + 2 * padding}-wide padded "
            f"input ({n} + 2·{padding}); use a smaller kernel or more padding"
        )
    return (n + 2 * padding - k) // stride + 1


def fit_notes(n: int, k: int, stride: int, padding: int) -> list[str]:
    """Plain-language warnings about an option set that is valid but loses information."""
    notes = []
    size = output_size(n, k, stride, padding)
    left_over = (n + 2 * padding - k) % stride
    if left_over:
        notes.append(
            f"({n} + 2·{padding} − {k}) / {stride} is not whole, so the last {left_over} "
            f"row(s)/column(s) of the padded input are never the start of a window "
            f"(PyTorch rounds down too)."
        )
    if stride > k:
        notes.append(
            f"stride {stride} is larger than the {k}-wide kernel: pixels between windows are "
            f"skipped entirely."
        )
    if size == 1:
        notes.append("only one window position fits, so the output is a single number.")
    return notes


def activate(x: torch.Tensor, activation: str) -> torch.Tensor:
    """Apply ``none`` / ``relu`` / ``sigmoid`` elementwise."""
    if activation == "none":
        return x
    if activation == "relu":
        return x.clamp(min=0)
    if activation == "sigmoid":
        return 1 / (1 + torch.exp(-x))
    raise UserError(f"unknown activation {activation!r}; choose one of: {', '.join(ACTIVATIONS)}")


def _windows(x: torch.Tensor, k: int, stride: int) -> torch.Tensor:
    """Every k x k window of x [C, H, W] at the given stride: a view [C, Ho, Wo, k, k]."""
    return x.unfold(1, k, stride).unfold(2, k, stride)


@dataclass(frozen=True)
class ConvStep:
    """One window position. Tensors are float [C, k, k] (patch, products) and [C] (sums)."""

    index: int  # 0-based, row-major over output positions
    row: int  # output row
    col: int  # output column
    top: int  # window's first row in the padded input
    left: int  # window's first column in the padded input
    patch: torch.Tensor
    kernel: torch.Tensor  # the kernel as applied (flipped for true convolution)
    products: torch.Tensor
    channel_sums: torch.Tensor
    total: float  # sum of all products
    bias: float
    pre_activation: float  # total + bias
    value: float  # activation(pre_activation)
    activation: str

    def _terms(self, ch: int) -> str:
        """Channel ``ch``'s products written out: ``w·x + w·x + …``."""
        pairs = zip(
            self.kernel[ch].flatten().tolist(), self.patch[ch].flatten().tolist(), strict=True
        )
        return " + ".join(f"{fmt(w)}·{fmt(x)}" for w, x in pairs)

    def equation(self, channel_names: tuple[str, ...] | None = None) -> str:
        """The step as text, e.g. ``1·1 + (−1)·0 + … + 0 = 3`` (every term written out)."""
        lines = []
        c = self.patch.shape[0]
        for ch in range(c):
            terms = self._terms(ch)
            s = fmt(float(self.channel_sums[ch]), paren=False)
            name = (channel_names[ch] if channel_names else f"channel {ch}") + ": "
            lines.append(f"{name if c > 1 else ''}{terms} = {s}")
        if c > 1:
            sums = " + ".join(fmt(float(v)) for v in self.channel_sums)
            lines.append(
                f"total: {sums} + {fmt(self.bias)} (bias) = {fmt(self.pre_activation, False)}"
            )
        else:
            lines[0] = lines[0][: lines[0].rfind(" = ")] + (
                f" + {fmt(self.bias)} (bias) = {fmt(self.pre_activation, False)}"
            )
        if self.activation != "none":
            lines.append(
                f"{self.activation}({fmt(self.pre_activation, False)}) = {fmt(self.value, False)}"
            )
        return "\n".join(lines)

    def question(self, channel_names: tuple[str, ...] | None = None) -> str:
        """The equation with every result hidden: the terms to work out, then ``= ?``."""
        c = self.patch.shape[0]
        lines = []
        for ch in range(c):
            terms = self._terms(ch)
            name = (channel_names[ch] if channel_names else f"channel {ch}") + ": "
            lines.append(f"{name if c > 1 else ''}{terms}" + (" = ?" if c > 1 else ""))
        if c > 1:
            lines.append(f"total: sum of the {c} channel sums + {fmt(self.bias)} (bias) = ?")
        else:
            lines[0] += f" + {fmt(self.bias)} (bias) = ?"
        if self.activation != "none":
            lines.append(f"{self.activation}(?) = ?")
        return "\n".join(lines)


@dataclass(frozen=True)
class ConvSteps:
    """Every intermediate of one convolution. Shapes: C channels, k kernel, Ho x Wo output."""

    image: torch.Tensor  # float [C, H, W], as given
    padded: torch.Tensor  # float [C, H + 2p, W + 2p]
    kernel: torch.Tensor  # float [C, k, k], as given
    applied: torch.Tensor  # float [C, k, k], flipped when flip=True
    bias: float
    stride: int
    padding: int
    activation: str
    flip: bool
    patches: torch.Tensor  # float [C, Ho, Wo, k, k]
    products: torch.Tensor  # float [C, Ho, Wo, k, k]
    channel_sums: torch.Tensor  # float [C, Ho, Wo]
    pre_activation: torch.Tensor  # float [Ho, Wo]: sum over channels + bias
    output: torch.Tensor  # float [Ho, Wo]: activation(pre_activation)

    def __len__(self) -> int:
        return self.output.numel()

    def step(self, i: int) -> ConvStep:
        """Window position i (row-major), with everything computed there."""
        n = len(self)
        if not 0 <= i < n:
            raise IndexError(f"step {i} out of range 0..{n - 1}")
        r, c = divmod(i, self.output.shape[1])
        sums = self.channel_sums[:, r, c]
        return ConvStep(
            index=i,
            row=r,
            col=c,
            top=r * self.stride,
            left=c * self.stride,
            patch=self.patches[:, r, c],
            kernel=self.applied,
            products=self.products[:, r, c],
            channel_sums=sums,
            total=float(sums.sum()),
            bias=self.bias,
            pre_activation=float(self.pre_activation[r, c]),
            value=float(self.output[r, c]),
            activation=self.activation,
        )

    def to_payload(self, channel_names: tuple[str, ...] | None = None) -> dict:
        """Everything the page's stepper draws, as JSON-ready data (numbers and their text).

        ``inputs``/``kernels``: one grid per channel ({title, values, text, scale, lo, hi});
        ``steps[i]``: the window (top, left), the output cell (row, col), the products per channel,
        each channel's sum, the equation, and the same equation with the results hidden
        (``question``, for quiz mode); ``output``: the whole output map, revealed step by step.
        """
        c, k, n = self.image.shape[0], self.kernel.shape[-1], len(self)
        names = channel_names or tuple(f"channel {i}" for i in range(c))
        colour = channel_names is not None and c == 3
        pad = f" (padding {self.padding})" if self.padding else ""
        kern_title = "kernel, flipped (true convolution)" if self.flip else "kernel"
        kabs = _span(self.applied)
        pabs = _span(self.products)

        def pre(ch: int) -> str:
            return f"{names[ch]}: " if c > 1 else ""

        inputs = [
            _grid(f"{pre(ch)}input{pad}", self.padded[ch], SCALES[ch] if colour else "grey", 0, 1)
            for ch in range(c)
        ]
        kernels = [
            _grid(f"{pre(ch)}{kern_title}", self.applied[ch], "sign", -kabs, kabs)
            for ch in range(c)
        ]
        steps = []
        for i in range(n):
            st = self.step(i)
            steps.append(
                {
                    "row": st.row,
                    "col": st.col,
                    "top": st.top,
                    "left": st.left,
                    "products": [_cells(st.products[ch]) for ch in range(c)],
                    "sums": [fmt(float(v), False) for v in st.channel_sums],
                    "value": _num(st.value),
                    "equation": st.equation(names if c > 1 else None),
                    "question": st.question(names if c > 1 else None),
                }
            )
        lo, hi = _range(self.output)
        return {
            "kind": "conv",
            "n": n,
            "window": k,
            "pad": self.padding,
            "out_rows": self.output.shape[0],
            "out_cols": self.output.shape[1],
            "inputs": inputs,
            "kernels": kernels,
            "products": {"title": "products (weight × pixel)", "lo": -pabs, "hi": pabs},
            "steps": steps,
            "output": _grid("output map", self.output, "viridis", lo, hi),
        }


SCALES = ("red", "green", "blue")  # a colour input's channels, as the stepper draws them


def _num(v: float) -> float:
    return round(float(v), 6)


def _cells(t: torch.Tensor) -> dict:
    """A 2-D tensor as {values, text}: numbers for colour, and the text a person reads."""
    rows = t.tolist()
    return {
        "values": [[_num(v) for v in row] for row in rows],
        "text": [[fmt(v, paren=False) for v in row] for row in rows],
    }


def _grid(title: str, t: torch.Tensor, scale: str, lo: float, hi: float) -> dict:
    return {"title": title, "scale": scale, "lo": _num(lo), "hi": _num(hi), **_cells(t)}


def _span(t: torch.Tensor) -> float:
    """Largest |value| (at least 1e-6): a colour scale symmetric around zero."""
    return max(float(t.abs().max()), 1e-6)


def _range(t: torch.Tensor) -> tuple[float, float]:
    lo, hi = float(t.min()), float(t.max())
    return (lo - 1, hi + 1) if hi - lo < 1e-9 else (lo, hi)


def conv_steps(
    image: torch.Tensor,
    kernel: torch.Tensor,
    bias: float = 0.0,
    stride: int = 1,
    padding: int = 0,
    activation: str = "none",
    flip: bool = False,
) -> ConvSteps:
    """Slide ``kernel`` over ``image`` and keep every step.

    image: float [H, W] or [C, H, W]; kernel: float [k, k] or [C, k, k] (same C, square).
    ``flip=False`` is cross-correlation (``F.conv2d``); ``flip=True`` is true convolution.
    """
    image = torch.as_tensor(image, dtype=torch.float32)
    kernel = torch.as_tensor(kernel, dtype=torch.float32)
    image = image[None] if image.dim() == 2 else image
    kernel = kernel[None] if kernel.dim() == 2 else kernel
    if image.dim() != 3 or kernel.dim() != 3:
        raise UserError("image must be [C, H, W] and kernel [C, k, k]")
    if kernel.shape[0] != image.shape[0]:
        raise UserError(
            f"the kernel has {kernel.shape[0]} channel(s) but the image has {image.shape[0]}"
        )
    k = kernel.shape[-1]
    if kernel.shape[-2] != k:
        raise UserError(f"the kernel must be square, not {tuple(kernel.shape[-2:])}")
    if activation not in ACTIVATIONS:
        raise UserError(
            f"unknown activation {activation!r}; choose one of: {', '.join(ACTIVATIONS)}"
        )
    # Both checks raise a UserError with the reason when the window does not fit.
    output_size(image.shape[1], k, stride, padding)
    output_size(image.shape[2], k, stride, padding)

    padded = torch.nn.functional.pad(image, (padding,) * 4)
    applied = kernel.flip(-1, -2) if flip else kernel
    patches = _windows(padded, k, stride)  # [C, Ho, Wo, k, k]
    products = patches * applied[:, None, None]
    channel_sums = products.sum(dim=(-1, -2))
    pre = channel_sums.sum(dim=0) + bias
    return ConvSteps(
        image=image,
        padded=padded,
        kernel=kernel,
        applied=applied,
        bias=float(bias),
        stride=stride,
        padding=padding,
        activation=activation,
        flip=flip,
        patches=patches,
        products=products,
        channel_sums=channel_sums,
        pre_activation=pre,
        output=activate(pre, activation),
    )


# --- pooling --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolSteps:
    """Stepped pooling of a feature map. Shapes: C channels, window s x s, Ho x Wo output."""

    feature_map: torch.Tensor  # float [C, H, W]
    size: int
    stride: int
    mode: str  # "max" or "avg"
    windows: torch.Tensor  # float [C, Ho, Wo, size, size]
    output: torch.Tensor  # float [C, Ho, Wo]

    def __len__(self) -> int:
        return self.output.shape[1] * self.output.shape[2]

    def window(self, i: int, channel: int = 0) -> tuple[int, int, torch.Tensor, float]:
        """(top, left, values [size, size], result) of window position i."""
        r, c = divmod(i, self.output.shape[2])
        return (
            r * self.stride,
            c * self.stride,
            self.windows[channel, r, c],
            float(self.output[channel, r, c]),
        )

    def to_payload(self, title: str = "feature map") -> dict:
        """The stepper's data for channel 0, in the same shape as ``ConvSteps.to_payload``."""
        lo, hi = _range(self.feature_map[0])
        steps = []
        for i in range(len(self)):
            top, left, _, out = self.window(i)
            r, c = divmod(i, self.output.shape[2])
            steps.append(
                {
                    "row": r,
                    "col": c,
                    "top": top,
                    "left": left,
                    "value": _num(out),
                    "equation": self.equation(i),
                    "question": "",
                }
            )
        return {
            "kind": "pool",
            "n": len(self),
            "window": self.size,
            "pad": 0,
            "out_rows": self.output.shape[1],
            "out_cols": self.output.shape[2],
            "inputs": [_grid(title, self.feature_map[0], "viridis", lo, hi)],
            "kernels": [],
            "steps": steps,
            "output": _grid(
                f"{self.size}x{self.size} {self.mode} pooling", self.output[0], "viridis", lo, hi
            ),
        }

    def equation(self, i: int, channel: int = 0) -> str:
        _, _, vals, out = self.window(i, channel)
        terms = ", ".join(fmt(v, paren=False) for v in vals.flatten().tolist())
        if self.mode == "max":
            return f"max({terms}) = {fmt(out, False)}"
        plus = " + ".join(fmt(v) for v in vals.flatten().tolist())
        return f"({plus}) / {vals.numel()} = {fmt(out, False)}"


def pool_steps(feature_map: torch.Tensor, mode: str = "max", size: int = 2, stride: int = 2):
    """Stepped ``size x size`` max / average pooling (no padding, rounding down like PyTorch).

    feature_map: float [H, W] or [C, H, W]. Returns ``PoolSteps`` (output float [C, Ho, Wo]).
    """
    x = torch.as_tensor(feature_map, dtype=torch.float32)
    x = x[None] if x.dim() == 2 else x
    if mode not in POOL_MODES:
        raise UserError(f"unknown pooling {mode!r}; use 'max' or 'avg'")
    if x.shape[1] < size or x.shape[2] < size:
        raise UserError(
            f"nothing to pool: the feature map is {x.shape[1]}x{x.shape[2]}, smaller than the "
            f"{size}x{size} pooling window; use padding or a smaller kernel or stride"
        )
    output_size(x.shape[1], size, stride)
    windows = _windows(x, size, stride)
    out = windows.amax(dim=(-1, -2)) if mode == "max" else windows.mean(dim=(-1, -2))
    return PoolSteps(x, size, stride, mode, windows, out)


# --- text, grids, checking against PyTorch -----------------------------------------------------


def fmt(v: float, paren: bool = True) -> str:
    """A number the way a person writes it: 1, 0.5, −0.25 (negatives in brackets inside sums)."""
    return _fmt(float(v), paren)


@functools.lru_cache(maxsize=8192)  # a page writes the same few numbers thousands of times
def _fmt(v: float, paren: bool) -> str:
    if math.isnan(v):
        return "nan"
    r = round(v, 3)
    s = f"{r:.3f}".rstrip("0").rstrip(".") if r != int(r) else str(int(r))
    if s in ("-0", "−0"):
        s = "0"
    if s.startswith("-"):
        s = "−" + s[1:]
        return f"({s})" if paren else s
    return s


def parse_grid(
    rows, shape: tuple[int, int], lo: float, hi: float, what: str = "cell"
) -> torch.Tensor:
    """Turn edited grid cells (numbers or text) into float32 [rows, cols], or raise UserError.

    The message names the first bad cell (1-based row and column) and says what is allowed.
    """
    out = []
    if len(rows) != shape[0] or any(len(r) != shape[1] for r in rows):
        raise UserError(f"the grid must be {shape[0]}x{shape[1]}")
    for i, row in enumerate(rows):
        out.append(
            [
                parse_cell(cell, lo, hi, f"{what} at row {i + 1}, column {j + 1}")
                for j, cell in enumerate(row)
            ]
        )
    return torch.tensor(out, dtype=torch.float32)


def parse_cell(cell, lo: float, hi: float, where: str = "cell") -> float:
    """One grid cell (a number or text) as a float in ``lo..hi``, or UserError naming ``where``."""
    text = "" if cell is None else str(cell).strip().replace("−", "-")
    allowed = f"enter a number from {fmt(lo, False)} to {fmt(hi, False)}"
    if not text:
        raise UserError(f"{where} is empty; {allowed}")
    try:
        v = float(text)
    except ValueError:
        raise UserError(f"{where} is {text[:20]!r}, not a number; {allowed}") from None
    if math.isnan(v):
        raise UserError(f"{where} is {text[:20]!r}, not a number; {allowed}")
    if math.isinf(v):
        raise UserError(
            f"{where} is {text[:20]!r}, which is infinite, not a usable number; {allowed}"
        )
    if not lo <= v <= hi:
        raise UserError(f"{where} is {fmt(v, False)}, outside {fmt(lo, False)}..{fmt(hi, False)}")
    return v


def parse_grid_text(text: str, shape: tuple[int, int], lo: float, hi: float) -> torch.Tensor:
    """Rows on lines (or separated by ';'), cells separated by spaces or commas."""
    lines = [ln for ln in text.replace(";", "\n").splitlines() if ln.strip()]
    rows = [ln.replace(",", " ").split() for ln in lines]
    return parse_grid(rows, shape, lo, hi)


def _py_grid(t: torch.Tensor, indent: str) -> str:
    """float [C, k, k] as a nested Python list literal, one kernel row per line."""

    def num(v: float) -> str:
        r = round(v, 4)
        return str(int(r)) if r == int(r) else repr(r)

    chans = [
        "[" + f",\n{indent} ".join("[" + ", ".join(num(v) for v in row) + "]" for row in ch) + "]"
        for ch in t.tolist()
    ]
    return "[" + f",\n{indent}".join(chans) + "]"


def torch_code(steps: ConvSteps) -> str:
    """The equivalent ``F.conv2d`` call as Python source (runs as is; defines ``y``)."""
    c, h, w = steps.image.shape
    k = steps.kernel.shape[-1]
    flip = ".flip(-1, -2)" if steps.flip else ""
    note = "# true convolution = cross-correlation with the kernel flipped\n" if steps.flip else ""
    act = {"none": "", "relu": "y = torch.relu(y)\n", "sigmoid": "y = torch.sigmoid(y)\n"}
    bias = round(steps.bias, 4)
    return (
        "import torch\nimport torch.nn.functional as F\n\n"
        f"x = torch.tensor({_py_grid(steps.image, ' ' * 18)}"
        f", dtype=torch.float32).reshape(1, {c}, {h}, {w})  # [N, C, H, W]\n"
        f"{note}w = torch.tensor({_py_grid(steps.kernel, ' ' * 18)}"
        f", dtype=torch.float32).reshape(1, {c}, {k}, {k}){flip}  # [out, in, k, k]\n"
        f"y = F.conv2d(x, w, bias=torch.tensor([{bias}]), "
        f"stride={steps.stride}, padding={steps.padding})\n"
        f"{act[steps.activation]}y = y[0, 0]  # [Ho, Wo]\n"
    )


def verify_with_torch(steps: ConvSteps) -> tuple[str, torch.Tensor, float]:
    """Run ``torch_code(steps)`` and compare: (code, PyTorch's output [Ho, Wo], max |difference|).

    The code is executed exactly as shown, so what the page prints is what was checked.
    """
    code = torch_code(steps)
    scope: dict = {}
    exec(code, scope)  # our own generated source, never user text
    y = scope["y"]
    # The shown code rounds inputs to 4 decimals; compare against the stepped result on the same.
    ref = conv_steps(
        steps.image.mul(1e4).round().div(1e4),
        steps.kernel.mul(1e4).round().div(1e4),
        round(steps.bias, 4),
        steps.stride,
        steps.padding,
        steps.activation,
        steps.flip,
    ).output
    return code, y, float((y - ref).abs().max())


def filter_image(
    image: torch.Tensor,
    kernel: torch.Tensor,
    bias: float = 0.0,
    stride: int = 1,
    padding: int = 0,
    activation: str = "none",
    flip: bool = False,
) -> torch.Tensor:
    """The same stepped arithmetic on a whole picture (e.g. a 28x28 digit): float [Ho, Wo].

    image: float [H, W] in [0, 1]; kernel: float [k, k].
    """
    return conv_steps(image, kernel, bias, stride, padding, activation, flip).output


# --- predict, then reveal (quiz mode) -------------------------------------------------------

QUIZ_TOLERANCE = 0.05  # a prediction within ±0.05 of the output cell counts as right


@dataclass(frozen=True)
class Verdict:
    """How a typed prediction compares with the true output cell."""

    right: bool
    guess: float
    value: float
    message: str


def check_prediction(text: str, value: float, cell: str = "the output cell") -> Verdict:
    """Compare a typed prediction with ``value``; right when within ``QUIZ_TOLERANCE``.

    Raises ``UserError`` (and nothing is scored) when the text is empty or not a finite number.
    """
    raw = "" if text is None else str(text).strip()
    if not raw:
        raise UserError(f"Type your prediction for {cell} first (a number such as 3 or −0.5).")
    try:
        guess = float(raw.replace("−", "-").replace(",", "."))
    except ValueError:
        raise UserError(
            f"{raw[:20]!r} is not a number; type a number such as 3 or −0.5 (no point lost)."
        ) from None
    if not math.isfinite(guess):
        raise UserError(f"{raw[:20]!r} is not a finite number; type a number such as 3 or −0.5.")
    tol = fmt(QUIZ_TOLERANCE, False)
    right = abs(guess - value) <= QUIZ_TOLERANCE + 1e-9
    verdict = "Right" if right else "Not quite"
    return Verdict(
        right,
        guess,
        value,
        f"{verdict}: you said {fmt(guess, False)}, {cell} is {fmt(value, False)} "
        f"(answers within ±{tol} count as right).",
    )
