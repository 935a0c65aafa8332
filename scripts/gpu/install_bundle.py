"""Install from a bundle's wheels only what this Python lacks, into a folder to put on PYTHONPATH.

Walks the requirements from the crnn-ctc wheel down: one that an installed distribution satisfies
is left to it (the machine's torch, and its numpy or Pillow if it has them, stay in charge, so no
second copy shadows what torch was built with); one that is missing or too old is installed from
the bundle. A requirement that is neither is reported, not fatal: the bundle leaves out what
training does not import (bundle.json says why). Standard library and pip only, no network.

Usage: python3 install_bundle.py WHEELS_DIR TARGET_DIR
"""

from __future__ import annotations

import email.parser
import importlib.metadata
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

try:
    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    from packaging.version import Version
except ImportError:  # pip always carries a copy
    from pip._vendor.packaging.markers import default_environment  # type: ignore[assignment]
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[assignment]
    from pip._vendor.packaging.version import Version  # type: ignore[assignment]

ROOT = "crnn-ctc"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Wheel:
    path: Path
    name: str
    version: str
    requires: list[str]


@dataclass
class Plan:
    install: list[Wheel] = field(default_factory=list)
    present: dict[str, str] = field(default_factory=dict)  # name -> installed version used as it is
    absent: dict[str, str] = field(default_factory=dict)  # name -> requirement met by nothing here


def read_wheel(path: Path) -> Wheel:
    with zipfile.ZipFile(path) as archive:
        metadata_name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
        metadata = email.parser.Parser().parsestr(archive.read(metadata_name).decode("utf-8"), headersonly=True)
    return Wheel(path, canonical(metadata["Name"]), metadata["Version"], metadata.get_all("Requires-Dist") or [])


def installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def plan_install(
    wheels: list[Wheel], installed: Callable[[str], str | None] = installed_version,
    environment: dict[str, str] | None = None,
) -> Plan:  # fmt: skip
    """Which wheels to install so that crnn-ctc's requirements hold (see the module's docstring);
    ``installed`` gives an installed distribution's version, ``environment`` the marker variables."""
    markers: dict[str, str] = dict(environment or default_environment())  # type: ignore[arg-type]
    by_name = {wheel.name: wheel for wheel in wheels}
    if ROOT not in by_name:
        raise SystemExit(f"install_bundle: no {ROOT} wheel among {len(wheels)} wheels; rebuild the bundle")
    plan = Plan(install=[by_name[ROOT]])
    # crnn-ctc[train]: the core and the training extra (pyproject.toml), not the service's.
    queue = [(requirement, "train") for requirement in by_name[ROOT].requires]
    seen = {ROOT}
    while queue:
        text, extra = queue.pop(0)
        requirement = Requirement(text)
        if requirement.marker and not requirement.marker.evaluate({**markers, "extra": extra}):
            continue
        name = canonical(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        version = installed(name)
        if version is not None and requirement.specifier.contains(Version(version), prereleases=True):
            plan.present[name] = version
            continue
        wheel = by_name.get(name)
        if wheel is None or not requirement.specifier.contains(Version(wheel.version), prereleases=True):
            plan.absent[name] = str(requirement) + (f" (installed: {version})" if version else "")
            continue
        plan.install.append(wheel)
        queue.extend((child, extra_name) for child in wheel.requires for extra_name in ("", *requirement.extras))
    return plan


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    wheels_dir, target = Path(argv[0]), Path(argv[1])
    plan = plan_install([read_wheel(path) for path in sorted(wheels_dir.glob("*.whl"))])
    print(f"install_bundle: installing {len(plan.install)} wheels into {target}: "
          + ", ".join(f"{w.name} {w.version}" for w in plan.install))  # fmt: skip
    print("install_bundle: already here: " + (", ".join(f"{n} {v}" for n, v in sorted(plan.present.items())) or "-"))
    if plan.absent:
        print("install_bundle: neither here nor bundled (not needed to train): " + ", ".join(sorted(plan.absent)))
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
               "--no-cache-dir", "--disable-pip-version-check", "--upgrade", "--target", str(target),
               *(str(w.path) for w in plan.install)]  # fmt: skip
    return subprocess.run(command).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
