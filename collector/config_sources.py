"""Where the collector's configuration comes from, and which layer gave each value.

Precedence: flags > ``NETAUDIT_…`` environment > the YAML file > defaults. The
environment nests with ``__`` (``NETAUDIT_INGEST__PORT``) and takes lists as JSON
or comma-separated (``NETAUDIT_AZURE__SUBSCRIPTIONS=sub1,sub2``). A ``NETAUDIT_``
variable that names no setting is handed to validation as an unknown key, so a
typo in the environment is refused like a typo in the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from netaudit.collector.errors import ConfigError
from netaudit.settings_env import ENV_NESTED_DELIMITER, ENV_PREFIX, NetauditEnvSource

CONFIG_ENV = "NETAUDIT_CONFIG"

AGENT_ENV_KEYS = frozenset({"kube", "cluster", "collector", "spool", "gather", "dns", "health"})
"""Top-level settings of netaudit-agent, which shares the NETAUDIT_ prefix: the collector
leaves NETAUDIT_COLLECTOR__ADDRESS and the like alone (a test keeps this in step)."""

KeyPath = tuple[str | int, ...]


def config_path(config_file: Path | None) -> Path | None:
    """The YAML file in effect: ``--config``, else ``NETAUDIT_CONFIG``, else none."""
    if config_file is not None:
        return config_file
    named = os.environ.get(CONFIG_ENV)
    return Path(named) if named else None


def read_yaml_config(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {_yaml_problem(exc)}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's message on one line: the problem and where it is."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"{exc.problem} at line {mark.line + 1}, column {mark.column + 1}"
    return " ".join(str(exc).split())


class YamlFileSource(PydanticBaseSettingsSource):
    """The YAML file named by --config, else by NETAUDIT_CONFIG."""

    def __init__(self, settings_cls: type[BaseSettings], config_file: Path | None) -> None:
        super().__init__(settings_cls)
        self._config_file = config_file

    def __call__(self) -> dict[str, Any]:
        path = config_path(self._config_file)
        return read_yaml_config(path) if path is not None else {}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False


def env_source(settings_cls: type[BaseSettings]) -> NetauditEnvSource:
    """The collector's ``NETAUDIT_…`` variables; the agent's sections are left alone."""
    return NetauditEnvSource(settings_cls, AGENT_ENV_KEYS | {_env_key(CONFIG_ENV)})


def _env_key(name: str) -> str:
    return name.lower().removeprefix(ENV_PREFIX.lower())


def env_name(path: KeyPath) -> str:
    """The variable that sets ``path``: ("ingest", "port") -> NETAUDIT_INGEST__PORT."""
    return ENV_PREFIX + ENV_NESTED_DELIMITER.join(str(part) for part in path).upper()


@dataclass(frozen=True)
class ConfigLayers:
    """The raw layers of one configuration, to tell where a value came from."""

    flags: Mapping[str, Any] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=dict)
    file: Path | None = None
    file_data: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, config_file: Path | None, flags: Mapping[str, Any]) -> ConfigLayers:
        path = config_path(config_file)
        environ = {
            name: value
            for name, value in os.environ.items()
            if name.upper().startswith(ENV_PREFIX) and name.upper() != CONFIG_ENV
        }
        given = {key: value for key, value in flags.items() if value is not None}
        file_data = read_yaml_config(path) if path is not None else {}
        return cls(given, environ, path, file_data)

    def origin(self, path: KeyPath) -> str:
        """``flag``, ``env NAME``, ``file PATH`` or ``default``: the layer that set ``path``."""
        for spelling in _spellings(path):
            if _holds(self.flags, spelling):
                return f"flag --{str(path[0]).replace('_', '-')}" if len(path) == 1 else "flag"
        variable = self.env_variable(path)
        if variable is not None:
            return f"env {variable}"
        for spelling in _spellings(path):
            if _holds(self.file_data, spelling):
                return f"file {self.file}"
        return "default"

    def env_variable(self, path: KeyPath, *, below: bool = False) -> str | None:
        """The variable that set ``path`` (or, JSON, a section holding it); with ``below``,
        also one that sets something under it (an unknown key's own variable)."""
        wanted = env_name(path)
        for name, value in self.environ.items():
            upper = name.upper()
            if upper == wanted:
                return name
            if below and upper.startswith(wanted + ENV_NESTED_DELIMITER):
                return name
            if wanted.startswith(upper + ENV_NESTED_DELIMITER) and _json_holds(
                value, path[len(_env_parts(upper)) :]
            ):
                return name
        return None


def _env_parts(name: str) -> list[str]:
    return name[len(ENV_PREFIX) :].split(ENV_NESTED_DELIMITER)


def _json_holds(value: str, rest: KeyPath) -> bool:
    try:
        decoded = json.loads(value)
    except ValueError:
        return False
    return isinstance(decoded, dict) and _holds(decoded, rest)


def _holds(data: Any, path: KeyPath) -> bool:
    for part in path:
        if not isinstance(data, Mapping):
            return False
        key = next((k for k in data if str(k).lower() == str(part).lower()), None)
        if key is None:
            return False
        data = data[key]
    return True


def _spellings(path: KeyPath) -> Iterator[KeyPath]:
    """``path`` and how a user may have written it: rule ids sit directly under ``rules:``
    (``rules.CNI-002.high`` is ``rules.per_rule.CNI-002.thresholds.high``)."""
    yield path
    if "per_rule" in path:
        short = tuple(part for part in path if part != "per_rule")
        yield short
        if "thresholds" in short:
            yield tuple(part for part in short if part != "thresholds")
