"""The keys allowed at a place of the file, for "unknown key" hints, for setting keys in error
aside and for leaving list entries in error out.

Walks the configuration models along an error's path (through optional values, lists, maps and
unions) to find the model whose keys apply there.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from crmsync.config.errors import Loc
from crmsync.config.models import Config, Filters, InboundConfig, InboundMapping, OptInOutConfig

__all__ = ["allowed_keys", "can_set_aside", "child", "entry_to_leave_out", "value_at"]

#: The lists whose entries nobody else refers to, by name or by position: an entry in error can
#: be left out and the rest still means the same. Not the connections or resources (mappings
#: name them), nor a mapping's fields (its replacements name them by CRM field).
_FREE_LISTS: frozenset[tuple[type[BaseModel], str]] = frozenset(
    {
        (InboundConfig, "mappings"),
        (InboundMapping, "replacements"),
        (Filters, "conditions"),
        (OptInOutConfig, "mappings"),
    }
)


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation may hold directly (``X | None``, unions, ``Annotated``)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _models(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [m for arg in get_args(annotation) for m in _models(arg)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def _items(annotation: Any) -> Any:
    """The item annotation of ``tuple[X, ...]``, ``list[X]`` or ``dict[K, X]``, else ``None``."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _items(get_args(annotation)[0])
    args = get_args(annotation)
    if origin in (tuple, list) and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return None


def allowed_keys(loc: Loc, data: Any) -> list[str]:
    """The keys of the model at ``loc`` (the parent of an unknown key), or ``[]``."""
    model = _model_at(loc, data)
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items() if f.repr]


def can_set_aside(loc: Loc, data: Any) -> bool:
    """Whether the key at ``loc`` can be left out without changing what the rest means: an
    unknown key, or a model's own single value (not a list or map of entries others may name)."""
    model = _model_at(loc[:-1], data) if loc else None
    if model is None:
        return False
    field = _field(model, loc[-1])
    return field is None or _items(field.annotation) is None


def entry_to_leave_out(loc: Loc, data: Any) -> Loc | None:
    """The innermost entry holding ``loc`` of a list whose entries nobody refers to (an inbound
    or opt-in/out mapping, a replacement, a filter condition), or ``None``."""
    for end in range(len(loc), 1, -1):
        entry, items = loc[:end], loc[: end - 1]
        if not isinstance(entry[-1], int) or not isinstance(value_at(items, data), list):
            continue
        model = _model_at(items[:-1], data)
        if model is not None and (model, items[-1]) in _FREE_LISTS:
            return entry
    return None


def value_at(loc: Loc, data: Any) -> Any:
    """The value at ``loc`` of ``data`` (mappings and lists), or ``None``."""
    for part in loc:
        data = child(data, part)
    return data


def _field(model: type[BaseModel], part: str | int) -> FieldInfo | None:
    return next((f for name, f in model.model_fields.items() if part in (name, f.alias)), None)


def _model_at(loc: Loc, data: Any) -> type[BaseModel] | None:
    """The model whose keys apply at ``loc``, or ``None`` (a list, a map, a plain value)."""
    annotation: Any = Config
    for part in loc:
        models = _models(annotation)
        if models:
            field = _field(_pick(models, data), part)
            if field is None:
                return None
            annotation = field.annotation
        else:
            annotation = _items(annotation)
            if annotation is None:
                return None
        data = child(data, part)
    models = _models(annotation)
    return _pick(models, data) if models else None


def child(data: Any, part: str | int) -> Any:
    """The value at ``part`` of a mapping or a list, or ``None``."""
    if isinstance(data, dict):
        return data.get(part)
    if isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
        return data[part]
    return None


def _pick(models: list[type[BaseModel]], data: Any) -> type[BaseModel]:
    """The union member matching the data's ``kind`` (connections), else the first."""
    if len(models) > 1 and isinstance(data, dict):
        for model in models:
            kind = model.model_fields.get("kind")
            if kind is not None and data.get("kind") in get_args(kind.annotation):
                return model
    return models[0]
