"""The official OASIS SARIF 2.1.0 schema (vendored in tests/schemas, see its README) as a
validator, with the ``uri`` and ``date-time`` formats checked (jsonschema checks them when
rfc3986-validator and rfc3339-validator are installed, as the dev extra does)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

SARIF_SCHEMA_FILE = Path(__file__).with_name("schemas") / "sarif-schema-2.1.0.json"


def _validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SARIF_SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator.check_schema(schema)
    checker = jsonschema.Draft4Validator.FORMAT_CHECKER
    missing = {"uri", "date-time"} - set(checker.checkers)
    assert not missing, f"formats not checked (dev extra not installed?): {sorted(missing)}"
    return jsonschema.Draft4Validator(schema, format_checker=checker)


VALIDATOR = _validator()


def sarif_errors(document: Any) -> list[str]:
    """One line per schema violation: where, and what the schema says."""
    return [
        f"{error.json_path}: {error.message}"
        for error in sorted(VALIDATOR.iter_errors(document), key=lambda e: e.json_path)
    ]
