"""A configuration document without the keys that only repeat a default.

``poll_interval_seconds: 1.0`` written out and the key left out are the same configuration; a
diff between revisions (one written by hand, one written by an edit) must not show either as a
change. :func:`without_defaults` walks the raw document beside the models that read it
(:class:`~crmsync.config.models.Config` by default) and drops every key whose value, read by
its field, equals the field's default. Values are kept as written otherwise (paths stay
relative, numbers keep their spelling), so the document still reads like the file.

Written here rather than taken from pydantic: ``model_dump(exclude_defaults=True)`` would write
the values as the models hold them, not as the file has them.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from crmsync.config.models import Config

__all__ = ["without_defaults"]


def without_defaults(document: Any, model: type[BaseModel] = Config) -> Any:
    """``document`` (plain YAML data) without the keys set to their field's default."""
    return _strip(document, model)


def _strip(value: Any, annotation: Any) -> Any:
    """``value`` read as ``annotation``, with its models' default keys dropped."""
    annotation = _unwrap(annotation)
    origin = get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _strip_model(value, annotation) if isinstance(value, dict) else value
    if origin in (Union, types.UnionType):
        member = _member(value, get_args(annotation))
        if member is None:
            return value
        if isinstance(value, dict) and isinstance(member, type) and issubclass(member, BaseModel):
            # The member's tag (a connection's kind) says which model reads the rest: kept.
            return _strip_model(value, member, keep_tags=True)
        return _strip(value, member)
    if origin in (tuple, list) and isinstance(value, list):
        items = [arg for arg in get_args(annotation) if arg is not Ellipsis]
        if len(items) == 1:
            return [_strip(item, items[0]) for item in value]
        return value
    if origin is dict and isinstance(value, dict):
        _, item = get_args(annotation)
        return {key: _strip(entry, item) for key, entry in value.items()}
    return value


def _strip_model(
    data: dict[Any, Any], model: type[BaseModel], *, keep_tags: bool = False
) -> dict[Any, Any]:
    fields = {(field.alias or name): field for name, field in model.model_fields.items()}
    out: dict[Any, Any] = {}
    for key, value in data.items():
        field = fields.get(key)
        if field is None:
            out[key] = value  # not the models' key: kept, and shown when it changes
        elif (keep_tags and _is_tag(field.annotation)) or not _is_default(value, field):
            out[key] = _strip(value, field.annotation)
    return out


def _is_default(value: Any, field: FieldInfo) -> bool:
    if field.is_required() or field.annotation is None:
        return False
    try:
        # Read with the field's validators and constraints, as the model reads it.
        annotation: Any = field.annotation
        if field.metadata:
            annotation = Annotated[(annotation, *field.metadata)]
        read: Any = TypeAdapter(annotation).validate_python(value)
    except ValidationError:
        return False
    return bool(read == field.get_default(call_default_factory=True))


def _is_tag(annotation: Any) -> bool:
    """A one-value ``Literal`` (a connection's ``kind``)."""
    annotation = _unwrap(annotation)
    return get_origin(annotation) is Literal and len(get_args(annotation)) == 1


def _unwrap(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _member(value: Any, members: tuple[Any, ...]) -> Any:
    """The model of a union that reads ``value``: the one whose ``Literal`` fields (its
    discriminator, e.g. a connection's ``kind``) match it; ``None`` when not a model's."""
    if not isinstance(value, dict):
        return None
    for member in map(_unwrap, members):
        if not (isinstance(member, type) and issubclass(member, BaseModel)):
            continue
        literals = {
            name: (get_args(field.annotation), field.get_default(call_default_factory=True))
            for name, field in member.model_fields.items()
            if get_origin(field.annotation) is Literal
        }
        if literals and all(
            value.get(name, default) in allowed for name, (allowed, default) in literals.items()
        ):
            return member
    return None
