"""Compose `conf/` with Hydra and turn it into validated `Settings`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from orchestrator.errors import ConfigError
from orchestrator.settings import (
    DataSettings,
    ExecutorSettings,
    InferSettings,
    ModelSettings,
    SearchSettings,
    Settings,
    TrainSettings,
)
from orchestrator.validate import settings_from

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
BASE = "orchestrator_base"


def _register_base() -> None:
    """Every settings key with its dataclass default, first in conf/config.yaml's defaults.

    The YAML groups then only say what differs, yet `key=value` works for every documented
    key. Stored as plain values, not as a typed schema: type errors are then found by our
    validator together with every other problem, instead of one at a time by OmegaConf.
    """
    defaults = Settings(SearchSettings(), ExecutorSettings(), DataSettings(), ModelSettings(),
                        TrainSettings(), InferSettings())
    ConfigStore.instance().store(name=BASE, node=_open_mappings(dataclasses.asdict(defaults)))


def _open_mappings(tree: dict[str, Any]) -> dict[str, Any]:
    """Empty mappings become null: Hydra may then set `data.label_map={1: negative}`, which
    struct mode refuses on an existing empty mapping."""
    return {k: (_open_mappings(v) if v else None) if isinstance(v, dict) else v
            for k, v in tree.items()}


def compose(overrides: list[str], config_dir: Path | None = None) -> DictConfig:
    """The composed config; a bad override or unknown group option is a ConfigError."""
    directory = (config_dir or CONF_DIR).resolve()
    if not (directory / "config.yaml").is_file():
        raise ConfigError([f"no config.yaml in {directory}; pass --config-dir with the "
                           "project's conf/ folder"])
    _register_base()
    try:
        with initialize_config_dir(config_dir=str(directory), version_base="1.3"):
            return hydra_compose(config_name="config", overrides=overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError([_one_line(exc)]) from None


def _one_line(exc: Exception) -> str:
    """Hydra's multi-line message, less its config-search-path listing, on one line."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    kept = [ln for ln in lines if not ln.startswith(("Config search path", "provider="))]
    text = " ".join(kept[:4]) if kept else type(exc).__name__
    return text.replace("Available options", "; available options").replace(":\t", ": ")


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
