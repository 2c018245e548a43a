"""Weights files: a model's ``state_dict`` to bytes, and bytes (an upload, a run's model.pt) back
into a model, refusing anything else with one plain sentence.

Loading is bounded by what a file expands to, not only by its size: before ``torch.load`` sees
anything, the zip that ``torch.save`` writes is inspected (``zipfile``, no decompression). It
must be a torch archive (one ``data.pkl``), every entry stored uncompressed as ``torch.save``
writes them (so nothing expands beyond the file itself: a deflated 1.5 MB tensor can ask for a
GiB), and the stored tensors may total at most a few times the largest model's state_dict. The
pickle's globals are listed without running it, to tell a whole pickled model from a state dict.
Only then ``torch.load(..., weights_only=True)``, a check of every key and shape against the
model, and ``load_state_dict(strict=True)``.

Messages never repeat text from the file (a key or class name in an upload is a visitor's text,
and a page shows errors as Markdown); layer names in them are the model's own.
"""

from __future__ import annotations

import functools
import io
import pickletools
import re
import zipfile

import torch
from torch import nn

from cnncore.errors import UserError
from cnncore.models import MODEL_NAMES, build_model

MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # a ConvNet state_dict is ~0.6 MB; nothing legitimate is near
EXPAND_FACTOR = 4  # tensors may total this many times the largest model's state_dict (+1 MB)
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_.]{1,100}$")


def state_dict_bytes(model: nn.Module) -> bytes:
    """``torch.save`` of the model's weights as CPU tensors (a zip with stored entries)."""
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buf)
    return buf.getvalue()


@functools.cache
def max_expanded_bytes() -> int:
    """The most bytes a weights file's entries may total: a few times the largest model's
    state_dict plus 1 MB for the pickle and bookkeeping, never more than the 50 MB upload cap."""
    largest = max(
        sum(t.numel() * t.element_size() for t in build_model(name).state_dict().values())
        for name in MODEL_NAMES
    )
    return min(EXPAND_FACTOR * largest + 2**20, MAX_UPLOAD_BYTES)


def _mb(n: int) -> str:
    return f"{n / 2**20:.3g} MB"


def _pickle_globals(data: bytes) -> set[str] | None:
    """The ``module.name`` globals a pickle refers to, read without running it (None: it is not
    a pickle we can parse)."""
    found, strings = set(), []
    try:
        for op, arg, _pos in pickletools.genops(data):
            if op.name in ("GLOBAL", "INST"):
                found.add(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.add(f"{strings[-2]}.{strings[-1]}")
            elif isinstance(arg, str):
                strings.append(arg)
    except Exception:  # a malformed pickle: torch.load refuses it below as well
        return None
    return found


def check_weights_file(data: bytes, source: str = "the file") -> None:
    """Refuse (UserError) what is not a ``torch.save`` archive of tensors of a sane total size,
    before anything is decompressed or unpickled. Reads only the zip's directory and data.pkl."""
    if len(data) == 0:
        raise UserError(f"{source} is empty (0 bytes): not a PyTorch weights file")
    if len(data) > MAX_UPLOAD_BYTES:
        raise UserError(f"{source} is {_mb(len(data))}, over the {_mb(MAX_UPLOAD_BYTES)} limit")
    not_weights = UserError(f"{source} is not a PyTorch weights file (save one with torch.save)")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            entries = zf.infolist()
            pickles = [e for e in entries if e.filename.endswith("/data.pkl")]
            if len(pickles) != 1 or any(
                not e.filename.startswith(pickles[0].filename[:-8]) for e in entries
            ):
                raise not_weights
            if any(
                e.compress_type != zipfile.ZIP_STORED or e.file_size != e.compress_size
                for e in entries
            ):
                raise UserError(
                    f"{source} has compressed entries, which torch.save never writes: not a "
                    "PyTorch weights file"
                )
            total = sum(e.file_size for e in entries)
            if total > max_expanded_bytes():
                raise UserError(
                    f"{source} holds {_mb(total)} of data, over the {_mb(max_expanded_bytes())} "
                    "limit for weights (no model here needs more)"
                )
            names = _pickle_globals(zf.read(pickles[0]))
    except UserError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError):
        raise not_weights from None
    except (ValueError, RuntimeError):  # a corrupt directory makes zipfile raise these too
        raise not_weights from None
    if names is None:
        raise not_weights
    if any(n.startswith("torch.nn.modules.") or n.startswith("cnncore.models.") for n in names):
        raise UserError(
            f"{source} is a whole pickled model, not a state dict: save model.state_dict()"
        )


def _shape(t: torch.Tensor) -> str:
    return "[" + ", ".join(str(d) for d in t.shape) + "]"


def load_state_dict_bytes(data: bytes, model_name: str, source: str = "the file") -> nn.Module:
    """A fresh ``model_name`` with weights from ``data`` (a saved state_dict). Anything else —
    too large, expanding too far, not a state dict, pickled code or objects, the wrong model's
    keys or shapes — raises UserError with one plain sentence and builds nothing."""
    check_weights_file(data, source)
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception:  # weights_only refuses code and objects; its message is not for students
        raise UserError(
            f"{source} is not a state dict (it holds Python objects other than tensors, which "
            "are never loaded): save model.state_dict()"
        ) from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise UserError(
            f"{source} is not a state dict (a dict of tensors): save model.state_dict()"
        )
    model = build_model(model_name)
    expected = model.state_dict()
    for key, want in expected.items():
        if key not in state:
            raise UserError(f"{source} does not fit the {model_name} model: layer {key} is missing")
        got = state[key]
        if got.shape != want.shape:
            raise UserError(
                f"{source} does not fit the {model_name} model (wrong shapes): layer {key} "
                f"expects {_shape(want)}, the file has {_shape(got)}"
            )
        if want.is_floating_point() and not (
            got.is_floating_point() and got.layout == torch.strided
        ):
            raise UserError(
                f"{source} does not fit the {model_name} model: layer {key} is not float numbers"
            )
    extra = [k for k in state if k not in expected]
    if extra:
        shown = f"layer {extra[0]}" if _SAFE_KEY.match(extra[0]) else "an entry"
        raise UserError(
            f"{source} does not fit the {model_name} model: it has {shown} the model does not have"
        )
    try:
        model.load_state_dict(state, strict=True)
    except Exception:  # checked above; kept so no library text can reach a user
        raise UserError(f"{source} does not fit the {model_name} model") from None
    return model
