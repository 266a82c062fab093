"""The ``NETAUDIT_`` environment, as the agent and the collector both read it.

Both command lines share the prefix, so each leaves the other's top-level sections
alone; any other ``NETAUDIT_`` variable that names no setting is handed to validation
as an unknown key, so a typo in the environment is refused like a typo in a file.
Lists are taken as JSON or comma-separated (``NETAUDIT_AZURE__SUBSCRIPTIONS=a,b``).
Here, beside the contract, because agent and collector must not import each other.
"""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource

ENV_PREFIX = "NETAUDIT_"
ENV_NESTED_DELIMITER = "__"


class NetauditEnvSource(EnvSettingsSource):
    """``NETAUDIT_…`` variables for ``settings_cls``; ``other_sections`` are the top-level
    names of the other command line's settings, which are not this one's to refuse."""

    def __init__(self, settings_cls: type[BaseSettings], other_sections: frozenset[str]) -> None:
        super().__init__(
            settings_cls,
            env_prefix=ENV_PREFIX,
            env_nested_delimiter=ENV_NESTED_DELIMITER,
            case_sensitive=False,
        )
        self._other_sections = other_sections

    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        known = set(self.settings_cls.model_fields) | self._other_sections
        for name, value in self.env_vars.items():
            if not name.startswith(ENV_PREFIX.lower()) or value is None:
                continue
            head = name[len(ENV_PREFIX) :].split(ENV_NESTED_DELIMITER)[0]
            if head and head not in known:
                data.setdefault(head, value)
        return data

    def decode_complex_value(self, field_name: str, field: FieldInfo | None, value: Any) -> Any:
        if _comma_separated_list(field, value):
            return [item.strip() for item in value.split(",") if item.strip()]
        try:
            return super().decode_complex_value(field_name, field, value)  # type: ignore[arg-type]
        except ValueError:
            # Left as text: validation then names the key and the type it wants.
            return value


def _comma_separated_list(field: FieldInfo | None, value: Any) -> bool:
    """A list setting given as text that is not a JSON list: ``a,b`` or ``a``."""
    return (
        field is not None
        and _is_list(field.annotation)
        and isinstance(value, str)
        and not value.lstrip().startswith("[")
    )


def _is_list(annotation: Any) -> bool:
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_is_list(member) for member in get_args(annotation))
    return get_origin(annotation) in (list, set, tuple, frozenset)
