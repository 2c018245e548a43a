"""Shareable view links: a page's settings to and from a URL query string.

A page declares its settings as ``Field``s. ``encode`` turns current values into query-string
pairs (defaults are left out, so a link stays short); ``decode`` reads a query string that anyone
may have edited by hand and keeps only what is valid: every other value falls back to its default
and is named, with the reason, in the list of ignored values. Nothing here raises on bad input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from cnncore.errors import UserError

MAX_VALUE_CHARS = 600  # a 3x5x5 grid at 3 decimals is ~450 characters; nothing valid is longer


def _number(text: str) -> float:
    try:
        v = float(text.strip().replace("−", "-"))
    except ValueError:
        raise UserError(f"{text[:20]!r} is not a number") from None
    if not math.isfinite(v):
        raise UserError(f"{text[:20]!r} is not a finite number")
    return v


def _short(v: float) -> str:
    s = f"{round(float(v), 3):.3f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


@dataclass(frozen=True)
class Field:
    """One setting of a page. ``kind``: choice, choices, int, float, bool, text or grid.

    choice: ``choices`` lists the allowed values (compared as text); choices: a non-empty list of
    them without repeats, written joined by ``,``.
    int/float: ``lo``..``hi`` inclusive. text: at most ``hi`` characters.
    grid: float tensors whose shape is one of ``shapes``, each value in ``lo``..``hi``;
    written as numbers joined by ``,`` (row-major) so a link stays readable.
    """

    name: str
    kind: str
    default: Any
    choices: tuple = ()
    lo: float | None = None
    hi: float | None = None
    shapes: tuple[tuple[int, ...], ...] = ()

    def decode(self, text: str) -> Any:
        """The value ``text`` stands for; raises UserError saying why it is not allowed."""
        if len(text) > MAX_VALUE_CHARS:
            raise UserError(f"it is {len(text):,} characters long")
        if self.kind == "choice":
            for choice in self.choices:
                if str(choice) == text:
                    return choice
            raise UserError(f"{text[:30]!r} is not one of the choices")
        if self.kind == "choices":
            picked = [
                Field(self.name, "choice", None, self.choices).decode(t) for t in text.split(",")
            ]
            if len(set(picked)) != len(picked):
                raise UserError("it names a choice twice")
            return picked
        if self.kind == "bool":
            if text in ("1", "0"):
                return text == "1"
            raise UserError(f"{text[:20]!r} is not 0 or 1")
        if self.kind == "text":
            if self.hi is not None and len(text) > self.hi:
                raise UserError(f"it is longer than {self.hi:.0f} characters")
            return text
        if self.kind == "grid":
            return self._decode_grid(text)
        v = _number(text)
        if self.kind == "int":
            if v != int(v):
                raise UserError(f"{text[:20]!r} is not a whole number")
            v = int(v)
        if (self.lo is not None and v < self.lo) or (self.hi is not None and v > self.hi):
            raise UserError(f"{text[:20]} is outside {_short(self.lo)}..{_short(self.hi)}")
        return v

    def _decode_grid(self, text: str) -> torch.Tensor:
        values = [_number(t) for t in text.split(",")] if text.strip() else []
        shape = next((s for s in self.shapes if math.prod(s) == len(values)), None)
        if shape is None:
            sizes = " or ".join(str(math.prod(s)) for s in self.shapes)
            raise UserError(f"it has {len(values)} numbers, not {sizes}")
        if any(not self.lo <= v <= self.hi for v in values):
            raise UserError(f"a number is outside {_short(self.lo)}..{_short(self.hi)}")
        return torch.tensor(values, dtype=torch.float32).reshape(shape)

    def encode(self, value: Any) -> str:
        if self.kind == "choices":
            return ",".join(str(v) for v in value)
        if self.kind == "bool":
            return "1" if value else "0"
        if self.kind == "grid":
            return ",".join(_short(v) for v in torch.as_tensor(value).flatten().tolist())
        if self.kind == "float":
            return _short(value)
        return str(value)

    def is_default(self, value: Any) -> bool:
        if self.kind == "grid":
            return self.default is not None and torch.equal(
                torch.as_tensor(value).float(), torch.as_tensor(self.default).float()
            )
        return self.encode(value) == self.encode(self.default)


def encode(fields: list[Field], values: dict[str, Any]) -> dict[str, str]:
    """Query-string pairs for the values that differ from their field's default. A value that
    would not decode again (e.g. a number box holding "abc") stays out of the link."""
    out = {}
    for field in fields:
        if field.name not in values:
            continue
        try:
            text = field.encode(values[field.name])
            field.decode(text)
            if not field.is_default(values[field.name]):
                out[field.name] = text
        except (UserError, ValueError, TypeError):
            continue
    return out


def decode(fields: list[Field], query: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """(valid values by field name, one line per ignored value). Unknown keys are left alone:
    they may belong to something else on the page."""
    values, ignored = {}, []
    for field in fields:
        if field.name not in query:
            continue
        text = query[field.name]
        try:
            values[field.name] = field.decode(str(text))
        except UserError as exc:
            ignored.append(f"{field.name}: {exc}")
    return values, ignored


def ignored_message(ignored: list[str]) -> str:
    """One line for the page: which values of the link were ignored, and why."""
    return (
        "Some values in this link were not valid and were replaced by defaults: "
        + "; ".join(ignored)
        + "."
    )
