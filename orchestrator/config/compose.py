"""Compose `conf/` with Hydra and turn it into validated `Settings`."""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path
from typing import Any

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from orchestrator.config import overrides as ov
from orchestrator.config.settings import (
    DataSettings,
    ExecutorSettings,
    InferSettings,
    ModelSettings,
    SearchSettings,
    Settings,
    TrainSettings,
)
from orchestrator.config.validate import settings_from
from orchestrator.errors import ConfigError

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
BASE = "orchestrator_base"


def _defaults() -> dict[str, Any]:
    return dataclasses.asdict(Settings(SearchSettings(), ExecutorSettings(), DataSettings(),
                                       ModelSettings(), TrainSettings(), InferSettings()))


def _register_base() -> None:
    """Every settings key with its dataclass default, first in conf/config.yaml's defaults.

    The YAML groups then only say what differs, yet `key=value` works for every documented
    key. Stored as plain values, not as a typed schema: type errors are then found by our
    validator together with every other problem, instead of one at a time by OmegaConf.
    """
    ConfigStore.instance().store(name=BASE, node=_open_mappings(_defaults()))


def _open_mappings(tree: dict[str, Any]) -> dict[str, Any]:
    """Empty mappings become null: Hydra may then set `data.label_map={1: negative}`, which
    struct mode refuses on an existing empty mapping."""
    return {k: (_open_mappings(v) if v else None) if isinstance(v, dict) else v
            for k, v in tree.items()}


def compose(overrides: list[str], config_dir: Path | None = None,
            multirun: bool = False) -> DictConfig:
    """The composed config; a bad override or unknown group option is a ConfigError.

    The overrides are first made fit for Hydra as typed in bash (`overrides.quote_values`),
    and Hydra habits that cannot work here are refused, every one at once. A plain override
    of a mapping setting (`data.label_map={pos: positive}`) replaces the mapping instead of
    merging into the group's: it is applied after Hydra, which can only merge."""
    directory = (config_dir or CONF_DIR).resolve()
    if not (directory / "config.yaml").is_file():
        raise ConfigError([f"no config.yaml in {directory}; pass --config-dir with the "
                           "project's conf/ folder"])
    kinds = ov.setting_kinds()
    problems: list[str] = []
    parsed = []
    for raw in ov.quote_values(list(overrides), kinds):
        _, key, value = ov.split(raw)
        habit = ov.hydra_problem(key, value) or (
            ov.alias_problem(key, value) if key not in kinds else None)
        if habit:
            problems.append(habit)
            continue
        try:
            parsed.append((raw, OverridesParser.create().parse_override(raw)))
        except HydraException as exc:
            problems.append(ov.grammar_problem(raw, exc))
    problems += ov.sweep_problems(parsed, multirun)
    if problems:  # every problem at once: the misspelt keys too
        raise ConfigError(problems + _misspelt([raw for raw, o in parsed
                                                if not o.is_sweep_override()]))
    sections = ov.optional_sections()
    inside = [(o.key_or_group, o.value()) for _, o in parsed
              if _section_of(o.key_or_group, sections) and not o.is_delete()]
    problems = [_not_in_section(key, _section_of(key, sections), kinds)
                for key, _ in inside if key not in kinds]
    if problems:
        raise ConfigError(problems)
    late = [(o.key_or_group, o.value()) for _, o in parsed
            if _in_mapping(o.key_or_group, kinds) and not o.is_delete()]
    hydra_overrides = [raw for raw, o in parsed
                       if not (_in_mapping(o.key_or_group, kinds)
                               or _section_of(o.key_or_group, sections)) or o.is_delete()]
    _register_base()
    try:
        with initialize_config_dir(config_dir=str(directory), version_base="1.3"):
            cfg = hydra_compose(config_name="config", overrides=hydra_overrides)
        _apply_after_hydra(cfg, late, inside, sections)
        return cfg
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(_misspelt(hydra_overrides) or [_one_line(exc)]) from None


def _apply_after_hydra(cfg: DictConfig, late: list[tuple[str, Any]],
                       inside: list[tuple[str, Any]], sections: set[str]) -> None:
    """What Hydra cannot do: replace a mapping, and set a key of a section that is null."""
    with open_dict(cfg):
        for path, mapping in late:
            OmegaConf.update(cfg, path, mapping, merge=False, force_add=True)
        for path, setting in inside:  # train.lora.r=8: the section made, then the key set
            section = _section_of(path, sections)
            if OmegaConf.select(cfg, section) is None:
                OmegaConf.update(cfg, section, {}, merge=False, force_add=True)
            OmegaConf.update(cfg, path, setting, merge=True, force_add=True)


def _not_in_section(key: str, section: str, kinds: dict[str, str]) -> str:
    keys = [k[len(section) + 1:] for k in kinds if k.startswith(section + ".")]
    close = difflib.get_close_matches(key[len(section) + 1:], keys, n=1, cutoff=0.6)
    hint = f"did you mean {section}.{close[0]}?" if close else \
        f"the keys under {section} are {', '.join(keys)}"
    return f"{key}: no such setting; {hint}"


def _section_of(key: str, sections: set[str]) -> str:
    """The optional section `key` lies inside (train.lora for train.lora.r), or ''."""
    return next((s for s in sections if key.startswith(s + ".")), "")


def _in_mapping(key: str, kinds: dict[str, str]) -> bool:
    """`key` is a mapping setting (data.label_map) or lies inside one (data.label_map.6)."""
    parts = key.split(".")
    return any(kinds.get(".".join(parts[:n])) == ov.MAPPING for n in range(1, len(parts) + 1))


def _misspelt(overrides: list[str]) -> list[str]:
    """One problem per override that sets a key no settings have, with the closest key.

    Asked only once Hydra has refused the overrides: Hydra names only the first unknown key,
    and advises `+key=value`, which would add the typo as a new key and be refused later.
    """
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException:
        return []
    problems = []
    for override in parsed:
        key = override.key_or_group
        if override.is_add() or override.is_delete() or override.is_force_add() \
                or key.split(".")[0] == "hydra":
            continue
        problem = _unknown(_defaults(), key.split("."))
        if problem:
            problems.append(f"{key}: no such setting; {problem}")
    return problems


def _unknown(tree: Any, path: list[str]) -> str:
    """'' when `path` names a setting, a section or lies inside an open mapping (label_map,
    search.space...); else what was probably meant at the first part that is not there,
    as a full key when the rest of the path fits the key meant (`serch.dir` -> search.dir)."""
    for depth, part in enumerate(path):
        if isinstance(tree, dict) and not tree:
            return ""  # an open mapping takes any key
        if not isinstance(tree, dict):
            return f"{'.'.join(path[:depth])} has no sub-keys"
        if part not in tree:
            prefix = "".join(f"{p}." for p in path[:depth])
            close = difflib.get_close_matches(part, list(tree), n=3, cutoff=0.6)
            for candidate in close:
                rest = path[depth + 1:]
                if rest and not _unknown(tree[candidate], rest):
                    return f"did you mean {prefix}{candidate}.{'.'.join(rest)}?"
                if rest and _unknown(tree[candidate], rest).startswith("did you mean "):
                    inner = _unknown(tree[candidate], rest)[len("did you mean "):]
                    return f"did you mean {prefix}{candidate}.{inner}"
            if close:
                return f"did you mean {prefix}{close[0]}?"
            return f"the keys under {prefix.rstrip('.') or 'the top'} are {', '.join(tree)}"
        tree = tree[part]
    return ""


def _one_line(exc: Exception) -> str:
    """Hydra's multi-line message on one line, less its config-search-path listing; a list
    under a heading ("Available options in 'data':") becomes comma-separated."""
    text = str(exc).split("Config search path")[0]
    parts: list[str] = []
    for line in (ln.strip() for ln in text.splitlines() if ln.strip()):
        if parts and parts[-1].endswith(":") and not line.endswith(":"):
            parts[-1] += f" {line}"
        elif parts and parts[-1].rpartition(":")[0].startswith("Available options") \
                and " " not in line:
            parts[-1] += f", {line}"
        else:
            parts.append(line)
    joined = "".join(p + (" " if p.endswith(".") else "; ") for p in parts).rstrip("; ")
    return (joined or type(exc).__name__).replace("Available options", "available options")


def to_yaml(cfg: DictConfig, resolve: bool = False) -> str:
    return OmegaConf.to_yaml(cfg, resolve=resolve)


def to_settings(cfg: DictConfig) -> Settings:
    try:
        raw: Any = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as exc:
        raise ConfigError([_one_line(exc)]) from None
    raw.pop("hydra", None)
    settings = settings_from(raw)
    # jobs run with another working directory on a cluster: make the search dir absolute
    search = dataclasses.replace(settings.search, dir=str(Path(settings.search.dir).resolve()))
    return dataclasses.replace(settings, search=search)
