"""constraints.txt pins the whole dependency tree: every direct pin agrees with it, and every
requirement of every pinned package (for Python 3.11-3.13 on x86_64 and aarch64) is pinned too,
at a version that satisfies it. Read from the installed packages' own metadata."""
from __future__ import annotations

import importlib.metadata as metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
ENVIRONMENTS = [{"python_version": version, "python_full_version": f"{version}.0", "platform_machine": machine,
                 "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
                 "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}
                for version in ("3.11", "3.12", "3.13") for machine in ("x86_64", "aarch64")]


def pins(name: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            package, _, version = line.partition("==")
            assert version, f"{name}: {line!r} is not pinned with =="
            found[canonicalize_name(package)] = version
    return found


def test_requirements_apply_the_constraints_and_agree_with_them() -> None:
    assert "-c constraints.txt" in (ROOT / "requirements.txt").read_text().splitlines()
    locked = pins("constraints.txt")
    for name in ("requirements.txt", "requirements-dev.txt"):
        direct = pins(name)
        assert direct and {k: v for k, v in direct.items() if locked.get(k) != v} == {}, name


def test_every_requirement_of_a_pinned_package_is_pinned_and_satisfied() -> None:
    locked = pins("constraints.txt")
    checked, problems = 0, []
    for name, version in locked.items():
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if dist.version != version:
            continue  # another version installed here: its metadata says nothing about the pin
        checked += 1
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker and not any(requirement.marker.evaluate(env) for env in ENVIRONMENTS):
                continue
            wanted = canonicalize_name(requirement.name)
            if wanted not in locked:
                problems.append(f"{name} needs {requirement}: not in constraints.txt")
            elif not requirement.specifier.contains(locked[wanted], prereleases=True):
                problems.append(f"{name} needs {requirement}: constraints.txt has {locked[wanted]}")
    assert problems == []
    assert checked >= len(locked) * 0.8, f"only {checked} of {len(locked)} pinned packages are installed as pinned"
