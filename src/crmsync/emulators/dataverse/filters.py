"""``$filter`` expressions → SQLAlchemy Core conditions, checked against the table's metadata.

The text is parsed by the ``odata-query`` library; the translation of its AST is written here
(rather than reusing its SQLAlchemy visitor) because Dataverse semantics differ: properties are
validated against the emulated metadata with Dataverse's messages, lookups are named
``_x_value``, literals are converted to the stored representation of the attribute they are
compared with, and strings compare without regard to case. Every value is a bound parameter.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from odata_query import ast
from odata_query.exceptions import ODataException, ODataSyntaxError, UnknownFunctionException
from odata_query.grammar import ODataLexer, ODataParser

from crmsync.emulators.dataverse.errors import odata_error
from crmsync.emulators.dataverse.schema import (
    LOOKUP_TYPES,
    OPTION_TYPES,
    TEXT_TYPES,
    Attribute,
    AttributeType,
    Table,
)

__all__ = ["compile_filter", "edm_type", "unknown_property"]

MAX_FILTER_LENGTH = 32_768
_STRING_FUNCTIONS = {"contains", "startswith", "endswith"}
_COMPARATORS = {
    ast.Eq: "Equal",
    ast.NotEq: "NotEqual",
    ast.Lt: "LessThan",
    ast.LtE: "LessThanOrEqual",
    ast.Gt: "GreaterThan",
    ast.GtE: "GreaterThanOrEqual",
}
_MIRROR: dict[type[Any], type[Any]] = {
    ast.Eq: ast.Eq,
    ast.NotEq: ast.NotEq,
    ast.Lt: ast.Gt,
    ast.LtE: ast.GtE,
    ast.Gt: ast.Lt,
    ast.GtE: ast.LtE,
}


def edm_type(attribute: Attribute) -> str:
    """The EDM type of an attribute's value on the wire."""
    kind = attribute.type
    if kind in TEXT_TYPES:
        return "Edm.String"
    if kind in OPTION_TYPES or kind == AttributeType.INTEGER:
        return "Edm.Int32"
    if kind in LOOKUP_TYPES or kind == AttributeType.UNIQUEIDENTIFIER:
        return "Edm.Guid"
    if kind == AttributeType.DATETIME:
        return "Edm.Date" if attribute.datetime_behavior == "DateOnly" else "Edm.DateTimeOffset"
    return {
        AttributeType.BIGINT: "Edm.Int64",
        AttributeType.BOOLEAN: "Edm.Boolean",
        AttributeType.MONEY: "Edm.Decimal",
        AttributeType.DECIMAL: "Edm.Decimal",
        AttributeType.DOUBLE: "Edm.Double",
    }[kind]


def unknown_property(table: Table, name: str) -> Exception:
    return odata_error(f"Could not find a property named '{name}' on type '{table.type_name}'.")


def _literal_type(node: ast._Literal) -> str:
    return {
        ast.String: "Edm.String",
        ast.Integer: "Edm.Int32",
        ast.Float: "Edm.Decimal",
        ast.Boolean: "Edm.Boolean",
        ast.GUID: "Edm.Guid",
        ast.Date: "Edm.Date",
        ast.DateTime: "Edm.DateTimeOffset",
    }.get(type(node), "Edm.Untyped")


class _Translator:
    def __init__(self, table: Table, columns: sa.ColumnCollection[str, Any]) -> None:
        self.table = table
        self.columns = columns

    def attribute(self, node: ast.Identifier) -> Attribute:
        if node.namespace:
            raise unknown_property(self.table, ".".join((*node.namespace, node.name)))
        attribute = self.table.by_wire_name.get(node.name)
        if attribute is None or not attribute.valid_for_read:
            raise unknown_property(self.table, node.name)
        return attribute

    def column(self, attribute: Attribute) -> Any:
        return self.columns[attribute.logical_name]

    def condition(self, node: ast._Node) -> Any:
        if isinstance(node, ast.BoolOp):
            left, right = self.condition(node.left), self.condition(node.right)
            return sa.and_(left, right) if isinstance(node.op, ast.And) else sa.or_(left, right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return sa.not_(self.condition(node.operand))
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Identifier):
            attribute = self.attribute(node)
            if attribute.type != AttributeType.BOOLEAN:
                raise odata_error("The $filter expression must evaluate to a single boolean value.")
            return self.column(attribute) == 1
        raise odata_error("The $filter expression must evaluate to a single boolean value.")

    def compare(self, node: ast.Compare) -> Any:
        comparator, left, right = node.comparator, node.left, node.right
        if isinstance(comparator, ast.In):
            if not isinstance(left, ast.Identifier) or not isinstance(right, ast.List):
                raise odata_error("The 'in' operator needs a property and a list of values.")
            attribute = self.attribute(left)
            values = [self.value(attribute, item, "In") for item in right.val]
            return self.column(attribute).in_(values)
        if not isinstance(left, ast.Identifier) and isinstance(right, ast.Identifier):
            left, right = right, left
            comparator = _MIRROR[type(comparator)]()
        if not isinstance(left, ast.Identifier):
            raise odata_error("A comparison must name a property of the table.")
        attribute = self.attribute(left)
        column = self.column(attribute)
        kind = _COMPARATORS[type(comparator)]
        if isinstance(right, ast.Identifier):
            other = self.attribute(right)
            if edm_type(other) != edm_type(attribute):
                raise self.incompatible(edm_type(attribute), edm_type(other), kind)
            value: Any = self.column(other)
        elif isinstance(right, ast.Null):
            if kind == "Equal":
                return column.is_(None)
            if kind == "NotEqual":
                return column.is_not(None)
            value = None
        else:
            value = self.value(attribute, right, kind)
        if kind == "NotEqual" and value is not None:
            # OData: null ne 'x' is true; SQL would answer unknown.
            return sa.or_(column != value, column.is_(None))
        return {
            "Equal": column == value,
            "NotEqual": column != value,
            "LessThan": column < value,
            "LessThanOrEqual": column <= value,
            "GreaterThan": column > value,
            "GreaterThanOrEqual": column >= value,
        }[kind]

    def incompatible(self, left: str, right: str, kind: str) -> Exception:
        return odata_error(
            "A binary operator with incompatible types was detected. Found operand types "
            f"'{left}' and '{right}' for operator kind '{kind}'."
        )

    def value(self, attribute: Attribute, node: ast._Node, kind: str) -> Any:
        """The literal ``node`` converted to how ``attribute`` is stored."""
        expected = edm_type(attribute)
        if not isinstance(node, ast._Literal) or isinstance(node, ast.List):
            raise odata_error("Only a literal value can be compared with a property.")
        if isinstance(node, ast.Null):
            return None
        mismatch = self.incompatible(expected, _literal_type(node), kind)
        if expected == "Edm.String":
            if not isinstance(node, ast.String):
                raise mismatch
            return node.val
        if expected == "Edm.Boolean":
            if not isinstance(node, ast.Boolean):
                raise mismatch
            return 1 if node.val.lower() == "true" else 0
        if expected == "Edm.Guid":
            if not isinstance(node, ast.GUID):
                raise mismatch
            return node.val.lower()
        if expected in ("Edm.Int32", "Edm.Int64"):
            if not isinstance(node, ast.Integer):
                raise mismatch
            return int(node.val)
        if expected in ("Edm.Decimal", "Edm.Double"):
            if not isinstance(node, ast.Integer | ast.Float):
                raise mismatch
            return float(node.val)
        if expected == "Edm.Date":
            if isinstance(node, ast.Date):
                return node.val
            if isinstance(node, ast.DateTime):
                return _parse_datetime(node.val).date().isoformat()
            raise mismatch
        # Edm.DateTimeOffset
        if isinstance(node, ast.DateTime):
            return _parse_datetime(node.val).strftime("%Y-%m-%dT%H:%M:%SZ")
        if isinstance(node, ast.Date):
            return f"{date.fromisoformat(node.val).isoformat()}T00:00:00Z"
        raise mismatch

    def call(self, node: ast.Call) -> Any:
        name = node.func.name
        if name not in _STRING_FUNCTIONS:
            raise _unknown_function(name)
        if len(node.args) != 2:
            raise odata_error(f"The function '{name}' requires two arguments.")
        target, needle = node.args
        if not isinstance(target, ast.Identifier) or not isinstance(needle, ast.String):
            raise odata_error(f"The function '{name}' needs a property and a string literal.")
        attribute = self.attribute(target)
        if attribute.type not in TEXT_TYPES:
            raise odata_error(
                f"No function signature for the function with name '{name}' matches the "
                f"specified arguments. The function signatures considered are: {name}"
                "(Edm.String Nullable=true, Edm.String Nullable=true)."
            )
        escaped = needle.val.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = {
            "contains": f"%{escaped}%",
            "startswith": f"{escaped}%",
            "endswith": f"%{escaped}",
        }[name]
        return self.column(attribute).like(pattern, escape="\\")


def _unknown_function(name: str) -> Exception:
    return odata_error(
        f"An unknown function with name '{name}' was found. This may also be a function import "
        "or a key lookup on a navigation property, which is not allowed."
    )


def _parse_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise odata_error(f"The date-time literal '{text}' is not valid.") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def compile_filter(table: Table, columns: sa.ColumnCollection[str, Any], text: str) -> Any:
    """The SQL condition for the ``$filter`` ``text`` on ``table``; bad input → 400."""
    if len(text) > MAX_FILTER_LENGTH:
        raise odata_error("The $filter expression is too long.")
    try:
        tree = ODataParser().parse(ODataLexer().tokenize(text))
    except ODataSyntaxError as exc:
        token = getattr(exc, "token", None)
        position = len(text) if token is None else token.index
        raise odata_error(f"Syntax error at position {position} in '{text}'.") from exc
    except UnknownFunctionException as exc:
        raise _unknown_function(exc.function_name) from exc
    except ODataException as exc:
        raise odata_error(f"{exc} in '{text}'.") from exc
    except (RecursionError, ValueError, TypeError, IndexError, AttributeError) as exc:
        raise odata_error(f"Syntax error in '{text}'.") from exc
    if tree is None:
        raise odata_error(f"Syntax error at position 0 in '{text}'.")
    try:
        return _Translator(table, columns).condition(tree)
    except RecursionError as exc:
        raise odata_error("The $filter expression is nested too deeply.") from exc
