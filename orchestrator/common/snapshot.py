"""The code a search runs, frozen when it starts (search.snapshot).

The project's `jobs/` and `orchestrator/` packages, its `conf/` (a detached controller composes
its configuration from the copy) and the user's own scripts named in train.command /
infer.command are copied under `search.dir/snapshot/<hash>/`; the folder's
name is the first characters of the copy's sha256 (over its sorted relative paths and
contents), and `snapshot/CURRENT` names the folder the search's jobs use. A folder is never
changed once written: a job that runs from an older one (--force-resume took new code) keeps
its files. A user's script `dir/x.py` is copied with its directory, when that is small (its
sibling modules come along), to `user/<digest of dir's path>/x.py`, so that its copy is found
from its original path alone (`rewrite`), even once the original is gone. Code that runs
from a snapshot (a detached controller, engine.detach) plans that snapshot itself: its own
hash, never the files in place, which may have changed since.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

SNAPSHOT = "snapshot"
CURRENT = "CURRENT"
USER = "user"
PACKAGES = ("conf", "jobs", "orchestrator")  # folders of the project's root
# the most a snapshot may copy; over it the search is refused (search.snapshot=false is the
# way out): a script's directory over it is not copied, only the script
LIMIT_BYTES = 50 * 1024 * 1024
SKIPPED = frozenset({"__pycache__", ".git", ".venv", "node_modules"})
SHORT = 12


class SnapshotTooLarge(ValueError):
    """The code to freeze is over LIMIT_BYTES."""


def project_root() -> Path:
    """Where `jobs/` and `orchestrator/` lie (this file is orchestrator/common/snapshot.py)."""
    return Path(__file__).resolve().parents[2]


def folder(search_dir: Path) -> Path:
    return Path(search_dir) / SNAPSHOT


def current(search_dir: Path) -> Path | None:
    """The snapshot the search's jobs run, or None (off, or not taken yet)."""
    try:
        name = (folder(search_dir) / CURRENT).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    path = folder(search_dir) / name
    return path.resolve() if name and path.is_dir() else None


def frozen_root(search_dir: Path, root: Path | None = None) -> Path | None:
    """The snapshot of `search_dir` that `root` (this code's project root) is, or None: the
    code in place."""
    base = (project_root() if root is None else root).resolve()
    return base if base.parent == folder(search_dir).resolve() else None


def _walk(root: Path, skip: Path | None, budget: int) -> dict[str, Path] | None:
    """Relative path -> file under `root` (hidden and cache folders and `skip` left out);
    None once the files pass `budget` bytes."""
    found: dict[str, Path] = {}
    total = 0
    for here, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED and not d.startswith(".")
                         and (skip is None or Path(here, d).resolve() != skip))
        for name in sorted(files):
            path = Path(here, name)
            if name.endswith(".pyc") or not path.is_file():
                continue
            total += path.stat().st_size
            if total > budget:
                return None
            found[path.relative_to(root).as_posix()] = path
    return found


def user_key(script: Path) -> str:
    """Where a user's script `script` (absolute) lies in a snapshot, relative to it."""
    digest = hashlib.sha256(str(script.parent).encode()).hexdigest()[:SHORT]
    return f"{USER}/{digest}/{script.name}"


def scripts(templates: Iterable[str]) -> list[Path]:
    """The files among the words of the commands `templates` (a placeholder's word is none),
    absolute, in order, once each."""
    found: list[Path] = []
    for template in templates:
        for word in shlex.split(template) if template else []:
            path = Path(word)
            if "{" not in word and path.is_file() and not _program(path):
                absolute = Path(os.path.abspath(word))  # as `rewrite` will spell it
                if absolute not in found:
                    found.append(absolute)
    return found


def _program(path: Path) -> bool:
    """An interpreter or tool rather than the user's script: a compiled program, or one
    installed in this Python's environment (its `python`, `torchrun`, `accelerate`)."""
    absolute = Path(os.path.abspath(path))
    if any(absolute.is_relative_to(p) for p in {sys.prefix, sys.base_prefix}):
        return True
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"\x7fELF"
    except OSError:
        return True


def plan(templates: Iterable[str], search_dir: Path,
         root: Path | None = None) -> dict[str, Path]:
    """What a snapshot holds: relative path -> the file it copies. SnapshotTooLarge, in one
    line naming the biggest files, when that is over LIMIT_BYTES."""
    base = project_root() if root is None else root
    frozen = frozen_root(search_dir, base)
    if frozen is not None:  # running from a snapshot: it is the code, whatever lies in place
        return _walk(frozen, None, LIMIT_BYTES) or {}
    skip = Path(search_dir).resolve()
    files: dict[str, Path] = {}
    for package in PACKAGES:
        found = _walk(base / package, skip, LIMIT_BYTES) if (base / package).is_dir() else {}
        files.update({f"{package}/{k}": v for k, v in (found or {}).items()})
    for script in scripts(templates):
        key = user_key(script)
        beside = _walk(script.parent, skip, LIMIT_BYTES)  # its directory, when small
        prefix = key.rsplit("/", 1)[0]
        files.update({f"{prefix}/{k}": v for k, v in beside.items()} if beside
                     else {key: script})
    _check_size(files)
    return files


def _check_size(files: Mapping[str, Path]) -> None:
    sizes = {path: path.stat().st_size for path in files.values()}
    total = sum(sizes.values())
    if total > LIMIT_BYTES:
        biggest = sorted(sizes, key=lambda p: -sizes[p])[:3]
        named = ", ".join(f"{p} ({sizes[p] / 2**20:.0f} MB)" for p in biggest)
        raise SnapshotTooLarge(
            f"search.snapshot: the code to freeze is {total / 2**20:.0f} MB, over "
            f"{LIMIT_BYTES // 2**20} MB (biggest: {named}); move data out of the scripts' "
            "folder, or pass search.snapshot=false to run the code in place")


def digest(files: Mapping[str, Path]) -> str:
    """sha256 over the sorted relative paths and the contents of `files`."""
    total = hashlib.sha256()
    for key in sorted(files):
        total.update(key.encode() + b"\0")
        total.update(hashlib.sha256(files[key].read_bytes()).digest())
    return total.hexdigest()


def take(files: Mapping[str, Path], search_dir: Path) -> tuple[str, Path]:
    """Copy `files` into the search's snapshot folder (once per content) and make it the
    current one; returns its hash and folder."""
    code_hash, target = copy(files, search_dir)
    pointer = folder(search_dir) / CURRENT
    temporary = pointer.with_name(f".{CURRENT}.{os.getpid()}")
    temporary.write_text(target.name + "\n", encoding="utf-8")
    os.replace(temporary, pointer)
    return code_hash, target


def copy(files: Mapping[str, Path], search_dir: Path) -> tuple[str, Path]:
    """Copy `files` into the search's snapshot folder (once per content), leaving the
    current one as it is (a running controller's jobs keep theirs); its hash and folder."""
    code_hash = digest(files)
    target = folder(search_dir) / code_hash[:SHORT]
    if not target.is_dir():
        partial = target.with_name(f".{target.name}.{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        for key, source in files.items():
            (partial / key).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, partial / key)
        os.replace(partial, target)
    return code_hash, target.resolve()


def rewrite(argv: Sequence[str], snapshot: Path | None) -> tuple[str, ...]:
    """`argv` with each word naming a file that `snapshot` holds a copy of replaced by the
    copy's path (the words as typed, relative ones from the current directory)."""
    if snapshot is None:
        return tuple(argv)
    out = []
    for word in argv:
        copy = snapshot / user_key(Path(os.path.abspath(word))) if word else None
        out.append(str(copy) if copy is not None and copy.is_file() else word)
    return tuple(out)
