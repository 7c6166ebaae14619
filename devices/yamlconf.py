"""YAML loading that remembers where each value stood, so errors can name file and line.

The data is what PyYAML's safe loader gives, a key given twice in one mapping refused. It
is built straight from libyaml's events (`yaml.CSafeLoader` when PyYAML has it) with no
node tree in between; anything unusual (merge keys, explicit collection tags, complex
keys, errors) goes through PyYAML's own composer and safe constructor instead. Line
numbers are only needed for an error message, so they are worked out when first asked for
(`Lines`): a site file of 50,000 devices loads in about a second, with no map of 200,000
locations and no node tree of 350,000 nodes in memory."""

from __future__ import annotations

import collections.abc
import gc
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)

_MERGE = "tag:yaml.org,2002:merge"
_FAST: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class StrictModel(BaseModel):
    """The base of every model read from a YAML file (site, rules, scenarios): a key the
    model does not know is an error, not silently ignored (a misspelt `for_s` would
    otherwise drop a rule's delay), and a loaded configuration cannot be changed by the
    code that reads it."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ConfigError(Exception):
    """A configuration file that cannot be used; `problems` are 'file:line: field: message'."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _DuplicateKey(Exception):
    def __init__(self, line: int, key: Any) -> None:
        super().__init__(f"{line}: duplicate key {key!r}")


def _checked_mapping(
    self: yaml.constructor.SafeConstructor, node: yaml.Node, deep: bool = False
) -> dict[Any, Any]:
    """SafeConstructor.construct_mapping that refuses a key given twice in one mapping
    (keys brought in by a `<<` merge may still be overridden, as YAML intends)."""
    if not isinstance(node, yaml.MappingNode):  # PyYAML's error
        raise yaml.constructor.ConstructorError(
            None,
            None,
            f"expected a mapping node, but found {getattr(node, 'id', node.tag)}",
            node.start_mark,
        )
    own = len(node.value)
    if any(k.tag == _MERGE for k, _ in node.value):
        own -= sum(1 for k, _ in node.value if k.tag == _MERGE)
        self.flatten_mapping(node)
    first_own = len(node.value) - own
    mapping: dict[Any, Any] = {}
    seen: dict[Any, Any] | set[Any] = mapping if first_own == 0 else set()
    for i, (key_node, value_node) in enumerate(node.value):
        key = self.construct_object(key_node, deep=deep)
        if not isinstance(key, collections.abc.Hashable):
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                "found unhashable key",
                key_node.start_mark,
            )
        if i >= first_own:
            if key in seen:
                raise _DuplicateKey(key_node.start_mark.line + 1, key)
            if isinstance(seen, set):
                seen.add(key)
        mapping[key] = self.construct_object(value_node, deep=deep)
    return mapping


class _Loader(_FAST):  # type: ignore[valid-type,misc]
    construct_mapping = _checked_mapping


class _PyLoader(yaml.SafeLoader):
    """The pure-Python loader: only to word a syntax error (it quotes the offending line)."""


class Lines(Mapping[Loc, int]):
    """The line of each value by its path ('devices', 3, 'room'), worked out on first use
    from the text (composed again; only an error message needs it)."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._map: dict[Loc, int] | None = None

    def _lines(self) -> dict[Loc, int]:
        if self._map is None:
            out: dict[Loc, int] = {}
            loader = _FAST(self._text)
            try:
                node = loader.get_single_node()
                if node is not None:
                    _walk(loader, node, (), out, set())
            except (yaml.YAMLError, ValueError, TypeError):
                pass  # the data loaded, so this does not happen; lines are a courtesy
            finally:
                loader.dispose()
            self._map = out
        return self._map

    def __getitem__(self, loc: Loc) -> int:
        return self._lines()[loc]

    def __iter__(self) -> Iterator[Loc]:
        return iter(self._lines())

    def __len__(self) -> int:
        return len(self._lines())


def _walk(
    loader: yaml.SafeLoader, node: yaml.Node, loc: Loc, out: dict[Loc, int], stack: set[int]
) -> None:
    out.setdefault(loc, node.start_mark.line + 1)
    if id(node) in stack:  # a recursive alias
        return
    if isinstance(node, yaml.MappingNode):
        stack.add(id(node))
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                continue
            key = loader.construct_object(key_node, deep=True)
            if isinstance(key, str | int):
                _walk(loader, value_node, (*loc, key), out, stack)
        stack.discard(id(node))
    elif isinstance(node, yaml.SequenceNode):
        stack.add(id(node))
        for i, v in enumerate(node.value):
            _walk(loader, v, (*loc, i), out, stack)
        stack.discard(id(node))


def load_yaml(path: Path) -> tuple[Any, Lines]:
    """Parse a YAML file; returns the data and a map from each value's path to its line.
    A key given twice in one mapping is an error."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from exc
    collecting = gc.isenabled()
    gc.disable()  # a big file makes objects by the million: no collections while it loads
    try:
        data = _load(text)
    except _DuplicateKey as exc:
        raise ConfigError([f"{path}:{exc}"]) from exc
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        raise ConfigError([f"{path}: not valid YAML: {_worded(text, exc)}"]) from exc
    finally:
        if collecting:
            gc.enable()
    return data, Lines(text)


def _load(text: str) -> Any:
    """The document's data: built straight from the parser's events (no node tree, equal
    strings shared) where it can be, else by PyYAML's composer and safe constructor."""
    loader = _Loader(text)
    try:
        try:
            return _Events(loader).document()
        except _Unusual:
            pass
    finally:
        loader.dispose()
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


class _Unusual(Exception):
    """Something the event reader leaves to PyYAML: explicit collection tags, merge keys,
    complex keys, anchors used twice, several documents, a syntax error."""


_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"


class _Events:
    """The safe loader's result from the event stream, one value at a time: what a site
    file of 50,000 devices needs without holding the whole node tree."""

    def __init__(self, loader: yaml.SafeLoader) -> None:
        self._loader = loader
        self._next: Callable[[], Any] = loader.get_event
        self._resolve: Callable[[type[yaml.Node], str, tuple[bool, bool]], str] = loader.resolve
        self._resolvers = loader.yaml_implicit_resolvers
        if None in self._resolvers:  # resolvers for any first character: PyYAML decides
            raise _Unusual
        self._anchors: dict[str, Any] = {}
        self._strings: dict[str, str] = {}
        self._plain: dict[str, str] = {}

    def document(self) -> Any:
        try:
            self._next()  # stream start
            event = self._next()
            if isinstance(event, yaml.StreamEndEvent):
                return None
            data = self._value(self._next())  # after the document start
            self._next()  # document end
            if not isinstance(self._next(), yaml.StreamEndEvent):
                raise _Unusual  # more than one document: PyYAML's error
            return data
        except yaml.YAMLError as exc:
            raise _Unusual from exc

    def _value(self, event: Any) -> Any:
        cls = event.__class__
        if cls is yaml.ScalarEvent:
            tag = event.tag
            value: str = event.value
            if tag is None or tag == "!":
                if event.implicit[0] and (value == "" or value[0] in self._resolvers):
                    tag = self._plain.get(value)
                    if tag is None:  # the same for every plain scalar with this text
                        tag = self._resolve(yaml.ScalarNode, value, (True, False))
                        self._plain[value] = tag
                else:
                    tag = _STR
            if tag == _STR:
                out: Any = self._strings.setdefault(value, value)
            elif tag == _MERGE:
                raise _Unusual
            else:
                node = yaml.ScalarNode(tag, value, event.start_mark, event.end_mark, event.style)
                out = self._loader.construct_object(node, deep=True)
                self._loader.constructed_objects.pop(node, None)
            if event.anchor is not None:
                self._anchor(event, out)
            return out
        if cls is yaml.MappingStartEvent:
            if event.tag not in (None, "!", _MAP):
                raise _Unusual
            mapping: dict[Any, Any] = {}
            if event.anchor is not None:
                self._anchor(event, mapping)
            while True:
                key_event = self._next()
                if key_event.__class__ is yaml.MappingEndEvent:
                    return mapping
                key = self._value(key_event)
                if isinstance(key, list | dict):
                    raise _Unusual
                if key in mapping:
                    raise _DuplicateKey(key_event.start_mark.line + 1, key)
                mapping[key] = self._value(self._next())
        if cls is yaml.SequenceStartEvent:
            if event.tag not in (None, "!", _SEQ):
                raise _Unusual
            seq: list[Any] = []
            if event.anchor is not None:
                self._anchor(event, seq)
            while True:
                item = self._next()
                if item.__class__ is yaml.SequenceEndEvent:
                    return seq
                seq.append(self._value(item))
        if cls is yaml.AliasEvent and event.anchor in self._anchors:
            return self._anchors[event.anchor]
        raise _Unusual

    def _anchor(self, event: Any, value: Any) -> None:
        if event.anchor in self._anchors:
            raise _Unusual
        self._anchors[event.anchor] = value


def _worded(text: str, exc: Exception) -> Exception:
    """The pure-Python parser's account of a syntax error (with the line quoted)."""
    if _FAST is yaml.SafeLoader or not isinstance(exc, yaml.MarkedYAMLError):
        return exc
    try:
        yaml.compose(text, Loader=_PyLoader)
    except yaml.YAMLError as py_exc:
        return py_exc
    return exc


def located(path: Path, lines: Mapping[Loc, int], loc: Loc, message: str) -> str:
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
    path: Path, exc: ValidationError, lines: Mapping[Loc, int], base: Loc = ()
) -> list[str]:
    """Turn pydantic errors into 'file:line: a.b.c: message' lines."""
    return [located(path, lines, (*base, *err["loc"]), err["msg"]) for err in exc.errors()]


def parse_model(model: type[M], path: Path) -> M:
    """Load a YAML file and validate it as `model`; ConfigError names file, line and field of every
    problem."""
    data, lines = load_yaml(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_problems(path, exc, lines)) from exc
