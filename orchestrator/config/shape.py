"""The first pass of validation: the shape of a raw configuration mapping (unknown keys,
missing keys, wrong types) against a dataclass's type hints, collecting every problem
instead of raising, so that the user reads them all at once (`validate.settings_from`)."""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from typing import Any


def build(cls: type[Any], raw: Any, path: str, problems: list[str],
          broken: list[str] | None = None) -> Any:
    """An instance of dataclass `cls` from `raw`, appending any problems found.

    A field with a problem keeps its default (its key is appended to `broken`), so that the
    meaning checks can still judge every other field: a type error in one key must not hide
    a range error in another."""
    if not isinstance(raw, dict):
        problems.append(f"{path}: expected a mapping, got {raw!r}")
        return None
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in sorted(set(raw) - set(fields)):
        close = [name for name in fields if name.startswith(str(key)[:3])]
        hint = f" (did you mean {', '.join(_join(path, c) for c in close)}?)" if close else ""
        problems.append(f"{_join(path, key)}: unknown key{hint}; known: {', '.join(fields)}")
    values: dict[str, Any] = {}
    broken = [] if broken is None else broken
    for name, f in fields.items():
        key, ftype = _join(path, name), hints[name]
        nested = dataclasses.is_dataclass(ftype) and isinstance(ftype, type)
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        before = len(problems)
        if name not in raw:
            if required:
                problems.append(f"{key}: missing")
        else:
            value = (build(ftype, raw[name], key, problems, broken) if nested
                     else _convert(ftype, raw[name], key, problems))
            if len(problems) == before or (nested and value is not None):
                values[name] = value
                continue
        if len(problems) > before:
            broken.append(key)
        if required and nested:
            values[name] = build(ftype, {}, key, [])  # the defaults stand in
    try:
        return cls(**values)
    except TypeError:
        return None  # a missing field was reported above


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _convert(hint: Any, value: Any, key: str, problems: list[str]) -> Any:
    if hint is Any:
        return value
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        for option in sorted(inner, key=lambda t: t is str):  # str last: it accepts numbers
            trial: list[str] = []
            converted = _convert(option, value, key, trial)
            if not trial:
                return converted
        names = " or ".join(getattr(t, "__name__", str(t)) for t in inner)
        problems.append(f"{key}: expected {names}, got {value!r}")
        return None
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return build(hint, value, key, problems)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            problems.append(f"{key}: expected a list, got {value!r}")
            return ()
        return tuple(_convert(args[0], v, f"{key}[{i}]", problems) for i, v in enumerate(value))
    if origin is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            problems.append(f"{key}: expected a mapping, got {value!r}")
            return {}
        return {str(k): _convert(args[1], v, f"{key}.{k}", problems) for k, v in value.items()}
    return _scalar(hint, value, key, problems)


def _scalar(hint: Any, value: Any, key: str, problems: list[str]) -> Any:
    if isinstance(hint, type) and issubclass(hint, enum.Enum):  # a choice (settings.Choice)
        choices = [str(member.value) for member in hint]
        if isinstance(value, str) and value in choices:
            return hint(value)
        problems.append(f"{key}={value}: must be one of {', '.join(choices)}")
        return None
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
    name = getattr(hint, "__name__", str(hint))
    problems.append(f"{key}: expected {name}, got {value!r}")
    return None
