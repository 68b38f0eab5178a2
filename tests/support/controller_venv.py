"""A venv holding the controller and its declared dependencies only, built in about a second.

What the SLURM tests need from it is proof that the controller runs with what pyproject.toml's
``dependencies`` bring and nothing else (no torch): a user's login-node venv. `pip install -e .`
proved that by resolving against the package index, 40-80 s on a busy 2-core machine for
packages this session's interpreter already holds. Here the venv is made without pip, and the
distributions of the declared dependencies' closure (read from this interpreter's metadata,
markers and extras evaluated) are linked into it, their metadata too; the checkout goes on its
path as an editable install would put it. A dependency pyproject.toml forgot stays missing,
as it would from a pip install; scripts/install.sh still installs the project with pip.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def declared_closure(requirements: list[str]) -> list[metadata.Distribution]:
    """The installed distributions that `requirements` need, transitively."""
    found: dict[str, metadata.Distribution] = {}
    seen: set[tuple[str, str]] = set()
    todo = [(Requirement(text), "") for text in requirements]
    while todo:
        requirement, extra = todo.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        dist = found.setdefault(name, metadata.distribution(requirement.name))
        for chosen in {"", *requirement.extras}:  # an extra's requirements are marked with it
            if (name, chosen) not in seen:
                seen.add((name, chosen))
                todo += [(Requirement(text), chosen) for text in dist.requires or []]
    return list(found.values())


def _top_levels(dist: metadata.Distribution) -> set[str]:
    """The entries a distribution put directly in site-packages (not its scripts in bin/)."""
    names = {Path(str(file)).parts[0] for file in dist.files or []}
    return {n for n in names if n not in ("..", "__pycache__") and not n.endswith(".pth")}


def _link_namespace(dist: metadata.Distribution, home: Path, site: Path, name: str) -> None:
    """A namespace package (`google/`, `nvidia/`...) holds several distributions' packages:
    link only the entries under it that `dist` installed, so a package of that namespace that
    pyproject.toml forgot stays missing."""
    (site / name).mkdir(exist_ok=True)
    children = {Path(str(file)).parts[1] for file in dist.files or []
                if Path(str(file)).parts[0] == name and len(Path(str(file)).parts) > 1}
    for child in children - {"__pycache__"}:
        if (home / name / child).exists() and not (site / name / child).exists():
            (site / name / child).symlink_to(home / name / child)


def build(directory: Path, root: Path) -> Path:
    """A venv at `directory` with `root`'s controller and its dependencies; its interpreter."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(directory)], check=True,
                   capture_output=True, timeout=300)
    python = directory / "bin" / "python"
    site = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True, timeout=60).stdout.strip())
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    for dist in declared_closure(project["dependencies"]):
        home = Path(str(dist.locate_file("")))
        for name in _top_levels(dist):
            if not (home / name).exists():
                continue
            if (home / name).is_dir() and not (home / name / "__init__.py").exists():
                _link_namespace(dist, home, site, name)  # shared with other distributions
            elif not (site / name).exists():
                (site / name).symlink_to(home / name)
    (site / "slurm_orchestrator.pth").write_text(f"{root}\n")
    return python
