"""Request models generated from option declarations: one field per option a class declares for the API."""
# No `from __future__ import annotations`: pydantic must see real types.
from typing import Any, Dict, List, Optional, Union

from pydantic import VERSION as PYDANTIC_VERSION, create_model

from ...option_spec import OptionSpec, declared_options

if PYDANTIC_VERSION.startswith("1."):  # the webui's pydantic: a Config class
    from pydantic import BaseConfig, Extra

    class _STRICT(BaseConfig):  # noqa: N801
        extra = Extra.forbid
else:
    from pydantic import ConfigDict
    _STRICT = ConfigDict(extra="forbid")

# Whole numbers are read as numbers so the service's checks answer 2.5 with a 400 naming the field.
_REQUEST_TYPES = {bool: bool, int: float, float: float, str: str, dict: Union[str, Dict[str, Any]],
                  list: Union[str, List[str]], object: Union[str, List[Any]]}


def request_field(spec: OptionSpec) -> tuple:
    """(type, default) of the request field of one declared option."""
    kind = _REQUEST_TYPES[spec.value_type]
    return (Optional[kind] if spec.optional else kind), spec.default


def request_model(name: str, classes: tuple, inputs: Dict[str, tuple], doc: str) -> type:
    """A pydantic model with `inputs` and one field per declared option of `classes` (shown in the API)."""
    fields = {spec.name: request_field(spec) for cls in classes for spec in declared_options(cls, "api")}
    # Unknown fields are refused (422 naming them): a misspelt option must not be silently ignored.
    model = create_model(name, __config__=_STRICT, **inputs, **fields)
    model.__doc__ = doc
    return model
