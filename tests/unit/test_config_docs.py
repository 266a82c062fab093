"""`netaudit config example|show`: the generated reference, the README's sample, origins."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from typer.testing import CliRunner

from netaudit.collector.cli import app
from netaudit.collector.config import CONFIG_ENV, Settings, load_settings
from netaudit.collector.config_docs import example_yaml
from netaudit.collector.rules.settings import RULE_ID, PerRuleSettings

README = Path(__file__).resolve().parents[2] / "README.md"
FILE_KEYS = {"tls_cert_file", "tls_key_file", "tls_client_ca_file", "client_secret_file"}
FILE_KEYS |= {"ca_bundle"}
KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_-]+):")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("NETAUDIT_"):
            monkeypatch.delenv(name)
    monkeypatch.delenv(CONFIG_ENV, raising=False)


def key_paths(data: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for key, value in data.items():
        yield (*prefix, str(key))
        if isinstance(value, dict):
            yield from key_paths(value, (*prefix, str(key)))


def model_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, info in model.model_fields.items():
        yield (*prefix, name)
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            yield from model_paths(info.annotation, (*prefix, name))


def documented_fields(model: type[BaseModel]) -> Iterator[tuple[str, str | None]]:
    """Every field of ``model`` and of the models it holds (also as dict values)."""
    for name, info in model.model_fields.items():
        yield f"{model.__name__}.{name}", info.description
        for inner in (info.annotation, *getattr(info.annotation, "__args__", ())):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                yield from documented_fields(inner)


def readme_sample() -> str:
    text = README.read_text()
    after = text.split("<!-- sample netaudit.yaml -->", 1)[1]
    match = re.search(r"```yaml\n(.*?)```", after, re.DOTALL)
    assert match, "README lost its sample netaudit.yaml"
    return match.group(1)


def test_every_setting_has_a_description() -> None:
    undocumented = [name for name, text in documented_fields(Settings) if not text]
    assert undocumented == []
    assert PerRuleSettings.model_fields["scope"].description


def test_the_example_holds_every_key_each_after_its_description() -> None:
    text = example_yaml()
    lines = text.splitlines()
    for number, line in enumerate(lines):
        key = KEY_LINE.match(line)
        if key:
            assert lines[number - 1].startswith(key["indent"] + "# "), f"undocumented: {line}"
    assert set(key_paths(yaml.safe_load(text))) == set(model_paths(Settings))


def test_the_example_loads_as_the_defaults(tmp_path: Path) -> None:
    config = tmp_path / "netaudit.yaml"
    config.write_text(example_yaml())
    assert load_settings(config).model_dump() == load_settings().model_dump()


def test_the_readme_sample_uses_only_keys_of_the_example_and_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = yaml.safe_load(readme_sample())
    example = set(key_paths(yaml.safe_load(example_yaml())))
    rule_ids = {path for path in key_paths(sample) if path[:1] == ("rules",) and len(path) > 1}
    rule_ids = {path for path in rule_ids if RULE_ID.match(path[1])}
    assert set(key_paths(sample)) - rule_ids <= example
    monkeypatch.chdir(tmp_path)
    for path in key_paths(sample):
        if path[-1] in FILE_KEYS:
            named = Path(_value(sample, path))
            named.parent.mkdir(parents=True, exist_ok=True)
            named.write_text("PEM\n")
    config = tmp_path / "netaudit.yaml"
    config.write_text(readme_sample())
    settings = load_settings(config)
    assert settings.azure.subscriptions == sample["azure"]["subscriptions"]
    assert not settings.rules.enabled("KUB-001")


def _value(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


def test_config_example_prints_the_generated_reference() -> None:
    result = CliRunner().invoke(app, ["config", "example"])
    assert result.exit_code == 0, result.output
    assert result.stdout == example_yaml()


def test_config_show_masks_secrets_and_names_where_each_value_came_from(tmp_path: Path) -> None:
    config = tmp_path / "netaudit.yaml"
    config.write_text(
        "ingest: {host: 0.0.0.0}\n"
        "broker: {url: 'amqp://netaudit:mq-pw@mq.example//', result_backend: "
        "'redis://:redis-pw@cache.example:6379/1'}\n"
        "azure: {tenant_id: t, client_id: c, client_secret: client-pw}\n"
        "rules: {CNI-002: {high: 0.95}}\n"
    )
    env = {"NETAUDIT_INGEST__PORT": "7100", "NETAUDIT_AZURE__SUBSCRIPTIONS": "sub1,sub2"}
    result = CliRunner().invoke(
        app, ["--config", str(config), "--state-dir", str(tmp_path), "config", "show"], env=env
    )
    assert result.exit_code == 0, result.output
    lines = {line.strip() for line in result.stdout.splitlines()}
    from_file = f"# file {config}"
    assert {
        f"state_dir: {tmp_path}  # flag --state-dir",
        "log_level: INFO  # default",
        f"host: 0.0.0.0  {from_file}",
        "port: 7100  # env NETAUDIT_INGEST__PORT",
        "subscriptions: [sub1, sub2]  # env NETAUDIT_AZURE__SUBSCRIPTIONS",
        f"url: amqp://netaudit:****@mq.example//  {from_file}",
        f"result_backend: redis://:****@cache.example:6379/1  {from_file}",
        f"client_secret: '**********'  {from_file}",
        f"CNI-002: {{thresholds: {{high: 0.95}}}}  {from_file}",
    } <= lines
    for secret in ("mq-pw", "redis-pw", "client-pw"):
        assert secret not in result.stdout
    assert yaml.safe_load(result.stdout)["ingest"]["port"] == 7100
