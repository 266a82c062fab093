"""The collector's configuration as commented YAML, generated from the settings model.

``example_yaml`` is the complete reference (`netaudit config example`): every key
with its default and its Field description. ``effective_yaml`` is what a command
would run with (`netaudit config show`): every value, secrets masked, each with
the layer it came from. Both load back as a configuration file.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from netaudit.collector.config import ConfigLayers, Settings, is_credential_url
from netaudit.collector.config_sources import KeyPath
from netaudit.collector.redaction import mask_url

WIDTH = 96
INDENT = "  "
EXAMPLE_HEADER = (
    "aks-netaudit collector configuration: every key with its default. Use it with "
    "`netaudit --config FILE` (or NETAUDIT_CONFIG=FILE); keep only the keys you change. "
    "Precedence: flags > NETAUDIT_… environment > this file > defaults. In the environment, "
    "nest with __ (NETAUDIT_INGEST__PORT=6000) and give lists as JSON or comma-separated "
    "(NETAUDIT_AZURE__SUBSCRIPTIONS=sub1,sub2). Unknown keys are refused."
)


def example_yaml() -> str:
    """Every setting with its description as comments and its default as the value."""
    lines = [*_comment(EXAMPLE_HEADER, ""), *_example_lines(Settings, 0)]
    return "\n".join(lines) + "\n"


def _example_lines(model: type[BaseModel], depth: int) -> Iterator[str]:
    indent = INDENT * depth
    for name, info in model.model_fields.items():
        if depth == 0:
            yield ""
        yield from _comment(info.description or "", indent)
        section = info.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            yield f"{indent}{name}:"
            yield from _example_lines(section, depth + 1)
        else:
            default = info.get_default(call_default_factory=True)
            yield f"{indent}{name}: {yaml_value(default)}"


def effective_yaml(settings: Settings, layers: ConfigLayers) -> str:
    """The settings in effect, secrets masked, each value followed by ``# its origin``."""
    source = f"file {layers.file}" if layers.file else "no file"
    header = f"effective configuration (flags > NETAUDIT_… environment > {source} > defaults)"
    lines = [*_comment(header, ""), *_effective_lines(settings, (), layers)]
    return "\n".join(lines) + "\n"


def _effective_lines(model: BaseModel, path: KeyPath, layers: ConfigLayers) -> Iterator[str]:
    indent = INDENT * len(path)
    for name in type(model).model_fields:
        value = getattr(model, name)
        here = (*path, name)
        if isinstance(value, BaseModel):
            yield f"{indent}{name}:"
            yield from _effective_lines(value, here, layers)
        elif isinstance(value, dict) and value:
            yield f"{indent}{name}:"
            for key, item in value.items():
                if isinstance(item, BaseModel):  # a rule's settings: only what differs
                    item = item.model_dump(mode="json", exclude_defaults=True)
                origin = layers.origin((*here, key))
                yield f"{indent}{INDENT}{key}: {yaml_value(item)}  # {origin}"
        else:
            if is_credential_url(type(model), name):
                value = mask_url(value)
            yield f"{indent}{name}: {yaml_value(value)}  # {layers.origin(here)}"


def yaml_value(value: Any) -> str:
    """One value in YAML flow style (SecretStr comes out masked, Path as text)."""
    text = yaml.safe_dump(
        to_jsonable_python(value),
        default_flow_style=True,
        sort_keys=False,
        width=10**6,
        allow_unicode=True,
    )
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _comment(text: str, indent: str) -> list[str]:
    width = max(40, WIDTH - len(indent) - 2)
    return [f"{indent}# {line}" for line in textwrap.wrap(text, width)]
