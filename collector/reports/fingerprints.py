"""A finding's identity across scans and audits: rule, cluster and resource, hashed.

Pure, so the store, the offline audit and the SARIF report compute the same value."""

from __future__ import annotations

import hashlib
import json


def fingerprint(rule_id: str, cluster_key: str, resource: str) -> str:
    """sha256 (hex) of the JSON array [rule_id, cluster_key, resource]: unambiguous for any text."""
    identity = json.dumps(
        [rule_id, cluster_key, resource], ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()
