"""YAML loading that remembers where each value stood, so errors can name file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A configuration file that cannot be used; `problems` are 'file:line: field: message'."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _construct(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> Any:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node))
            if key in out:
                raise ConfigError([f"line {key_node.start_mark.line + 1}: duplicate key {key!r}"])
            out[key] = _construct(value_node, (*loc, key), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(v, (*loc, i), lines) for i, v in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


def load_yaml(path: Path) -> tuple[Any, dict[Loc, int]]:
    """Parse a YAML file; returns the data and a map from each value's path to its line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}"]) from exc
    lines: dict[Loc, int] = {}
    if node is None:
        return None, lines
    try:
        return _construct(node, (), lines), lines
    except ConfigError as exc:
        raise ConfigError([f"{path}:{p}" for p in exc.problems]) from exc


def located(path: Path, lines: dict[Loc, int], loc: Loc, message: str) -> str:
    """'file:line: a.b.c: message' for the value at `loc` (or its nearest parent)."""
    line = None
    probe = loc
    while probe and line is None:
        line = lines.get(probe)
        probe = probe[:-1]
    where = ".".join(str(p) for p in loc) or "(top)"
    prefix = f"{path}:{line}" if line else str(path)
    return f"{prefix}: {where}: {message}"


def validation_problems(
    path: Path, exc: ValidationError, lines: dict[Loc, int], base: Loc = ()
) -> list[str]:
    """Turn pydantic errors into 'file:line: a.b.c: message' lines."""
    return [located(path, lines, (*base, *err["loc"]), err["msg"]) for err in exc.errors()]


def parse_model(model: type[M], path: Path) -> M:
    data, lines = load_yaml(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_problems(path, exc, lines)) from exc
