"""Grouped audit options: one small frozen dataclass per concern, declared next to its code.

Each option is a dataclass field made with :func:`option`, which keeps its help text (and, where
it needs one, its choices or bounds) beside its default. Everything else is derived from these
declarations: the CLI flags (``--min-similarity``), the ``settings`` block of report.json, the
audit section of ``params.yaml`` that ``datacheck init`` writes, and the keyword shortcuts of
:func:`datacheck.audit` (``audit(path, threshold=8)`` sets ``CopyOptions.threshold``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from .errors import BadInputError

#: Option groups by name (the keyword of :func:`datacheck.audit` that takes the group), in the
#: order the CLI lists them.
GROUPS: dict[str, type] = {}
_ORDER: dict[str, int] = {}


def option(default: Any, help: str, *, choices: tuple | None = None, minimum: float | None = None,
           maximum: float | None = None, flag: str | None = None, kind: str | None = None,
           envvar: str | None = None, param: bool = True) -> Any:
    """A dataclass field with CLI metadata.

    ``flag`` overrides the CLI name (default ``--field-name``); ``kind`` is ``path``, ``folder``
    or ``pair`` where the Python type does not tell (a file; a folder; two split names);
    ``envvar`` also reads the CLI value from the environment. ``param`` says whether the option
    belongs in params.yaml / ``datacheck init`` (machine-specific ones do not).
    """
    meta = {"help": help, "choices": choices, "minimum": minimum, "maximum": maximum,
            "flag": flag, "kind": kind, "envvar": envvar, "param": param}
    return dataclasses.field(default=default, metadata=meta)


def group(name: str, order: int):
    """Class decorator: register an options dataclass under ``name``, listed at ``order``."""
    def register(cls: type) -> type:
        _ORDER[name] = order
        GROUPS[name] = cls
        for key in sorted(GROUPS, key=_ORDER.__getitem__):
            GROUPS[key] = GROUPS.pop(key)
        return cls
    return register


def fields(cls: type) -> list[dataclasses.Field]:
    return list(dataclasses.fields(cls))


def validate(instance: Any) -> None:
    """Check choices and bounds of every option; a bad value is one line naming its flag."""
    for f in fields(type(instance)):
        value, meta = getattr(instance, f.name), f.metadata
        if value is None:
            continue
        flag = meta.get("flag") or "--" + f.name.replace("_", "-")
        if meta.get("choices") and value not in meta["choices"]:
            raise BadInputError(f"{flag} {value!r}: choose one of {', '.join(meta['choices'])}")
        low, high = meta.get("minimum"), meta.get("maximum")
        if (low is not None and value < low) or (high is not None and value > high):
            span = f"{low if low is not None else '-inf'} to {high if high is not None else 'inf'}"
            raise BadInputError(f"{flag} {value} is out of range ({span})")


def resolve(given: Mapping[str, Any], shortcuts: Mapping[str, Any]) -> dict[str, Any]:
    """One instance per registered group: ``given[group]`` (an instance, a dict or None) with
    ``shortcuts`` (field name -> value) applied on top; unknown names are a BadInputError."""
    owners = {f.name: name for name, cls in GROUPS.items() for f in fields(cls)}
    unknown = [k for k in shortcuts if k not in owners]
    if unknown:
        raise BadInputError(f"unknown audit option {unknown[0]!r}")
    out = {}
    for name, cls in GROUPS.items():
        base = given.get(name)
        if base is None:
            base = cls()
        elif isinstance(base, Mapping):
            base = _from_mapping(cls, base)
        elif not isinstance(base, cls):
            raise BadInputError(f"{name}= takes a {cls.__name__}, not {type(base).__name__}")
        changes = {k: v for k, v in shortcuts.items() if owners[k] == name}
        instance = dataclasses.replace(base, **changes) if changes else base
        validate(instance)
        out[name] = instance
    return out


def _from_mapping(cls: type, values: Mapping[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    unknown = [k for k in values if k not in names]
    if unknown:
        raise BadInputError(f"unknown {cls.__name__} option {unknown[0]!r}")
    return cls(**values)


def params_of(instance: Any, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The options of ``instance`` that belong in params.yaml, by field name; with all the
    audit's ``options``, values a group resolves from others (its ``resolved(options)``)."""
    values = {f.name: getattr(instance, f.name) for f in fields(type(instance))
              if f.metadata.get("param", True)}
    if options is not None and hasattr(instance, "resolved"):
        values.update(instance.resolved(options))
    return values
