"""Attribute docstrings become field descriptions when a schema is made (schemas.docs), as
pydantic's `use_attribute_docstrings` made them at import."""

from pydantic import BaseModel, ConfigDict, Field

from schemas.docs import describe_fields


class Base(BaseModel):
    model_config = ConfigDict(json_schema_extra=describe_fields)

    plain: int
    """The base's words,
    over two lines."""
    other: str = ""


class Child(Base):
    aliased: int = Field(0, alias="from")
    """Shown under its alias."""
    other: str = ""
    """The subclass documents what its base did not."""


def test_descriptions_come_from_the_docstrings_under_fields():
    properties = Child.model_json_schema(by_alias=True)["properties"]
    assert properties["plain"]["description"] == "The base's words,\nover two lines."
    assert properties["from"]["description"] == "Shown under its alias."
    assert properties["other"]["description"] == "The subclass documents what its base did not."
    assert "description" not in Base.model_json_schema()["properties"]["other"]


def test_a_model_without_source_has_none():
    made: type[BaseModel] = type("Made", (Base,), {"__annotations__": {"x": int}, "__module__": "nowhere"})
    assert "description" not in made.model_json_schema()["properties"]["x"]
