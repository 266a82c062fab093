"""Maps the top-level folders onto one import package, ``netaudit``.

pyproject.toml holds the metadata; only the folder mapping lives here because
setuptools cannot discover sub-packages of a renamed folder declaratively.
"""

from setuptools import find_namespace_packages, find_packages, setup

FOLDERS = {
    "netaudit": "protos/netaudit",
    "netaudit.agent": "agent",
    "netaudit.audit": "audit",
    "netaudit.collector": "collector",
    "netaudit.sandbox": "sandbox",
}


def _packages() -> list[str]:
    found = []
    for package, folder in FOLDERS.items():
        found.append(package)
        found += [f"{package}.{sub}" for sub in find_packages(folder)]
    return found


def _data_packages() -> list[str]:
    """The sample fleet's folders (no __init__.py), declared as namespace packages of data
    so setuptools neither warns about them nor leaves them out."""
    return [
        f"netaudit.sandbox.{name}"
        for name in find_namespace_packages("sandbox", include=["fleet_data", "fleet_data.*"])
    ]


# Package data lives here, not in pyproject.toml: setuptools lets the pyproject
# table replace these globs.
PACKAGE_DATA = {
    "": ["py.typed", "*.pyi", "*.proto", "*.mako", "*.schema.json"],
    **{package: ["*"] for package in _data_packages()},
}

setup(
    packages=[*_packages(), *_data_packages()],
    package_dir=FOLDERS,
    package_data=PACKAGE_DATA,
)
