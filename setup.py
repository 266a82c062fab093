"""Maps the top-level folders onto one import package, ``netaudit``.

pyproject.toml holds the metadata; only the folder mapping lives here because
setuptools cannot discover sub-packages of a renamed folder declaratively.
"""

from setuptools import find_packages, setup

FOLDERS = {
    "netaudit": "protos/netaudit",
    "netaudit.agent": "agent",
    "netaudit.collector": "collector",
    "netaudit.sandbox": "sandbox",
}


def _packages() -> list[str]:
    found = []
    for package, folder in FOLDERS.items():
        found.append(package)
        found += [f"{package}.{sub}" for sub in find_packages(folder)]
    return found


# Package data lives here, not in pyproject.toml: setuptools lets the pyproject
# table replace these globs. Data trees without __init__.py (the sample fleet)
# ship whole.
PACKAGE_DATA = {
    "": ["py.typed", "*.pyi", "*.proto", "*.mako"],
    "netaudit.sandbox": ["fleet_data/**/*"],
}

setup(packages=_packages(), package_dir=FOLDERS, package_data=PACKAGE_DATA)
