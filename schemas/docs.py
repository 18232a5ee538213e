"""Field descriptions from attribute docstrings, read when a JSON schema is made, not at import.

pydantic's `use_attribute_docstrings` reads a model's source as the class is created: for the
fifty report models that was ~60 ms of every command's start-up, though only the API's
OpenAPI document and the event and flow schemas ever show a description. `describe_fields`
does the same work when a schema is generated: the docstring under a field (PEP 257's attribute
docstrings) is that field's description, cleaned as pydantic cleans it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.config import JsonDict


@cache
def attribute_docstrings(model: type[BaseModel]) -> dict[str, str]:
    """Field name -> the string literal right under its annotation in the class body."""
    import ast  # with inspect, ~20 ms to import: paid by the schema's reader, not by start-up
    import inspect
    import textwrap

    try:
        source = textwrap.dedent(inspect.getsource(model))
    except (OSError, TypeError):  # no source (a model made at run time): no descriptions
        return {}
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    found: dict[str, str] = {}
    for statement, following in zip(body.body, body.body[1:], strict=False):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            found[statement.target.id] = inspect.cleandoc(following.value.value)
    return found


def describe_fields(schema: JsonDict, model: type[BaseModel]) -> None:
    """Add each documented field's description to the model's JSON schema (`json_schema_extra`)."""
    properties: Any = schema.get("properties")
    if not isinstance(properties, dict):
        return
    documented: dict[str, str] = {}
    for klass in reversed(model.__mro__):  # a subclass's docstring wins over its base's
        if isinstance(klass, type) and issubclass(klass, BaseModel) and klass is not BaseModel:
            documented.update(attribute_docstrings(klass))
    for name, field in model.model_fields.items():
        key = field.serialization_alias or field.alias or name
        prop = properties.get(key)
        if name in documented and isinstance(prop, dict) and "description" not in prop:
            prop["description"] = documented[name]
