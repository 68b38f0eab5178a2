"""Command-line overrides as a user types them in bash, made fit for Hydra's grammar.

Bash removes its own quotes, so `train.command='bash run_train.sh {model} {output_dir}'`
reaches us as `train.command=bash run_train.sh {model} {output_dir}`, which Hydra's grammar
refuses (`{` opens a mapping). A setting whose type is `str` is never a list, a mapping or a
sweep, so its value is taken literally: quoted for Hydra here, before Hydra parses anything.
A value that already is one Hydra quoted string is kept, so the Hydra spelling
(`search.dir='"my runs"'`) keeps working.

Then the habits a Hydra or Trainer user brings are caught with the exact replacement: sweeps
and `--multirun` (the search itself tries several settings: `search.space`), `hydra.*`
overrides (refused, never silently ignored), and the Trainer's own names (ALIASES).
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from collections.abc import Callable
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, Quote, QuotedString
from hydra.errors import HydraException

from orchestrator.config.settings import Settings, TrainSettings

STR, STR_LIST, MAPPING, OTHER = "str", "str_list", "mapping", "other"
SPACE_EXAMPLE = "search.space='{learning_rate: [1e-5, 3e-5]}' search.max_trials=2"


def setting_kinds(cls: type[Any] = Settings, prefix: str = "") -> dict[str, str]:
    """Every settings key -> STR, STR_LIST, MAPPING or OTHER, from the dataclasses (so a
    setting added to settings.py is covered without touching this module)."""
    kinds: dict[str, str] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key, hint = f"{prefix}{f.name}", hints[f.name]
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if typing.get_origin(hint) in (typing.Union, type(int | str)) and len(args) == 1:
            hint = args[0]  # X | None is X here: null stays null
        if dataclasses.is_dataclass(hint) and isinstance(hint, type):
            kinds.update(setting_kinds(hint, f"{key}."))
        elif hint is str:
            kinds[key] = STR
        elif typing.get_origin(hint) is tuple and typing.get_args(hint)[0] is str:
            kinds[key] = STR_LIST
        elif typing.get_origin(hint) is dict:
            kinds[key] = MAPPING
        else:
            kinds[key] = OTHER
    return kinds


def optional_sections(cls: type[Any] = Settings, prefix: str = "") -> set[str]:
    """The settings that are a whole section or null (`train.lora`): Hydra cannot set a key
    inside one while it is null, so `train.lora.r=8` is applied after Hydra, as Hydra users
    write it (a section and its keys, from the dataclasses)."""
    found: set[str] = set()
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint, key = hints[f.name], f"{prefix}{f.name}"
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and type(None) in typing.get_args(hint) and \
                dataclasses.is_dataclass(args[0]):
            found.add(key)
        elif dataclasses.is_dataclass(hint) and isinstance(hint, type):
            found |= optional_sections(hint, f"{key}.")
    return found


def split(override: str) -> tuple[str, str, str | None]:
    """(prefix, key, value): `++a.b=x` -> ('++', 'a.b', 'x'); value None without `=`."""
    prefix = override[: len(override) - len(override.lstrip("+~"))]
    key, eq, value = override[len(prefix):].partition("=")
    return prefix, key.strip(), value if eq else None


def _parse(override: str) -> Override:
    return OverridesParser.create().parse_override(override)


def _quoted(text: str) -> str:
    return str(QuotedString(text=text, quote=Quote.single).with_quotes())


def _already_quoted(override: str, value: str) -> bool:
    if value[:1] not in ("'", '"'):
        return False
    try:
        return isinstance(_parse(override).value(), str)
    except HydraException:
        return False


SEARCHABLE = frozenset(f.name for f in dataclasses.fields(TrainSettings)) - {"command"}


def quote_values(overrides: list[str], kinds: dict[str, str]) -> list[str]:
    """The overrides with every str setting's value quoted for Hydra (see the module doc);
    a str-list setting given a single value (`executor.train.setup='module load cuda'`)
    becomes a one-item list. `null` stays null."""
    out = []
    for override in overrides:
        prefix, key, value = split(override)
        kind = kinds.get(key)
        if value is None or "~" in prefix or kind not in (STR, STR_LIST) \
                or value.strip().lower() == "null" or _already_quoted(override, value):
            out.append(override)
        elif kind == STR and key.startswith("train.") and key[6:] in SEARCHABLE \
                and "," in value:
            out.append(override)  # `train.lr_scheduler=linear,cosine`: a sweep, said so later
        elif kind == STR:
            out.append(f"{prefix}{key}={_quoted(value)}")
        elif value.lstrip().startswith("["):
            out.append(override)  # a Hydra list: its items are the user's to quote
        else:
            out.append(f"{prefix}{key}=[{_quoted(value)}]" if value.strip()
                       else f"{prefix}{key}=[]")
    return out


# ------------------------------------------------------------------------ grammar errors
def grammar_problem(override: str, exc: Exception) -> str:
    """One line: which key Hydra could not parse, why, and how to quote it."""
    prefix, key, value = split(override)
    if value is None and "~" not in prefix:
        return (f"{override}: no value; write {key}=<value> (or group=option for a config "
                "group)")
    reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    return f"{key}: Hydra cannot parse {value!r} ({reason}); " \
        + _how_to_quote(prefix, key, value or "")


def _how_to_quote(prefix: str, key: str, value: str) -> str:
    body = value.strip()
    if body[:1] in "[{" and body[-1:] in "]}":
        items = _top_level(body[1:-1], ",")
        if body[0] == "[":
            fixed = "[" + ", ".join(_dq(i) for i in items) + "]"
        else:
            pairs = [i.partition(":") for i in items]
            fixed = "{" + ", ".join(f"{k.strip()}: {_dq(v)}" for k, _, v in pairs) + "}"
        candidate = f"{prefix}{key}={fixed}"
        try:
            _parse(candidate)
        except HydraException:
            pass
        else:
            return f"quote each item for Hydra, inside bash's quotes: {key}='{fixed}'"
        return ("quote each item holding spaces, commas, brackets, braces, colons or = for "
                f"Hydra, inside bash's quotes: {key}='[\"module load x/1\", \"export A=1\"]'")
    return f"quote it for Hydra inside bash's quotes: {key}='\"{value}\"'"


def _dq(item: str) -> str:
    item = item.strip()
    if item[:1] in ("'", '"') or re.fullmatch(r"[\w.+-]*", item):
        return item
    return str(QuotedString(text=item, quote=Quote.double).with_quotes())


def _top_level(text: str, sep: str) -> list[str]:
    """`text` split at each `sep` outside quotes, brackets and braces."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote and text[i - 1] != "\\" else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


# ------------------------------------------------------------------------ habits
def _minutes(value: str) -> str:
    """SLURM's time formats (MM, MM:SS, HH:MM:SS, D-HH[:MM[:SS]]) in whole minutes."""
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", value.strip())
    if not match:
        return "<minutes>"
    days, a, b, c = (int(g) if g else None for g in match.groups())
    assert a is not None
    if days is not None:  # D-HH, D-HH:MM, D-HH:MM:SS
        seconds = days * 86400 + a * 3600 + (b or 0) * 60 + (c or 0)
    elif c is not None:  # HH:MM:SS
        seconds = a * 3600 + (b or 0) * 60 + c
    else:  # MM, MM:SS
        seconds = a * 60 + (b or 0)
    return str(max(1, math.ceil(seconds / 60)))


def _gigabytes(value: str) -> str:
    match = re.fullmatch(r"([\d.]+)\s*([KMGT]?)B?", value.strip(), re.IGNORECASE)
    if not match:
        return "<GB>"
    scale = {"K": 1 / 1024**2, "M": 1 / 1024, "G": 1, "T": 1024, "": 1}[match[2].upper()]
    return f"{float(match[1]) * scale:g}"


def _precision(name: str) -> Callable[[str], str]:
    return lambda v: name if v.strip().lower() in ("true", "1", "yes") else "fp32"


Same = None  # the value carries over unchanged
# other tools' names -> (our key, how the value converts); `*` is train or infer
ALIASES: dict[str, tuple[str, Callable[[str], str] | None]] = {
    "train.num_train_epochs": ("train.epochs", Same),
    "train.num_epochs": ("train.epochs", Same),
    "train.per_device_train_batch_size": ("train.per_device_batch_size", Same),
    "train.batch_size": ("train.per_device_batch_size", Same),
    "train.per_device_eval_batch_size": ("infer.batch_size", Same),
    "train.gradient_accumulation_steps": ("train.grad_accum_steps", Same),
    "train.lr": ("train.learning_rate", Same),
    "train.lr_scheduler_type": ("train.lr_scheduler", Same),
    "train.warmup_ratio": ("train.warmup_steps", Same),  # a value < 1 is a ratio
    "train.fp16": ("train.precision", _precision("fp16")),
    "train.bf16": ("train.precision", _precision("bf16")),
    "train.max_seq_length": ("data.max_length", Same),
    "train.max_length": ("data.max_length", Same),
    "train.model_name_or_path": ("model.name_or_path", Same),
    "model.model_name_or_path": ("model.name_or_path", Same),
    "executor.*.gpus": ("executor.*.gpus_per_node", Same),
    "executor.*.num_gpus": ("executor.*.gpus_per_node", Same),
    "executor.*.gres": ("executor.*.gpus_per_node", lambda v: v.rpartition(":")[2]),
    "executor.*.time": ("executor.*.timeout_min", _minutes),
    "executor.*.timeout": ("executor.*.timeout_min", _minutes),
    "executor.*.mem": ("executor.*.mem_gb", _gigabytes),
    "executor.*.memory": ("executor.*.mem_gb", _gigabytes),
    "executor.*.cpus": ("executor.*.cpus_per_task", Same),
    "executor.*.ntasks_per_node": ("executor.*.tasks_per_node", Same),
}
NOTES = {"train.warmup_steps": " (a value < 1 is a ratio)"}


def alias_problem(key: str, value: str | None) -> str | None:
    """`train.num_train_epochs=3` -> one line naming our key with the converted value."""
    kind = None
    parts = key.split(".")
    if len(parts) == 3 and parts[0] == "executor" and parts[1] in ("train", "infer"):
        kind, key = parts[1], f"executor.*.{parts[2]}"
    elif len(parts) == 2 and parts[0] == "executor" and f"executor.*.{parts[1]}" in ALIASES:
        key = f"executor.*.{parts[1]}"
    if key not in ALIASES:
        return None
    ours, convert = ALIASES[key]
    new = (convert or str)(value) if value is not None else "<value>"
    shown = key.replace("*", kind) if kind else key.replace(".*", "")
    if kind:
        fix = f"{ours.replace('*', kind)}={new}"
    elif "*" in ours:
        fix = f"{ours.replace('*', 'train')}={new} (and/or {ours.replace('*', 'infer')}={new})"
    else:
        fix = f"{ours}={new}"
    return f"{shown}{'=' + value if value is not None else ''}: not a setting here; " \
           f"write {fix}{NOTES.get(ours, '')}"


HYDRA_INSTEAD = {
    "hydra.run.dir": "every output of a search goes to search.dir: write search.dir={value}",
    "hydra.sweep.dir": "every output of a search goes to search.dir: write search.dir={value}",
    "hydra.sweep.subdir": "each trial has its own folder search.dir/trials/NNN",
    "hydra.job.chdir": "the working directory never changes; outputs go to search.dir",
    "hydra.launcher": "jobs are launched by executor=local|debug|slurm; set their resources "
                      "with executor.train.* and executor.infer.*",
    "hydra.sweeper": "the search itself tries several settings: " + SPACE_EXAMPLE,
    "hydra.verbose": "the controller logs every event to search.dir/journal.jsonl",
    "hydra.job_logging": "the controller logs every event to search.dir/journal.jsonl",
    "hydra.hydra_logging": "the controller logs every event to search.dir/journal.jsonl",
}


def hydra_problem(key: str, value: str | None) -> str | None:
    """`hydra.*` (and `hydra/<group>=`) overrides are refused with what to use instead:
    orchestrator run uses Hydra only to compose conf/, so they would be silently ignored."""
    dotted = key.replace("/", ".")
    if dotted.split(".")[0] != "hydra":
        return None
    instead = next((text for name, text in HYDRA_INSTEAD.items()
                    if dotted == name or dotted.startswith(name + ".")),
                   "Hydra's own settings do not apply: orchestrator run uses Hydra only to "
                   "compose conf/; remove it")
    shown = f"{key}={value}" if value is not None else key
    return f"{shown}: not used by orchestrator run; {instead.format(value=value or '<dir>')}"


def sweep_problems(parsed: list[tuple[str, Override]], multirun: bool) -> list[str]:
    """A sweep (`a=1,2`, range(), interval()) or `--multirun`: one search per command, whose
    trials try several train settings; each line spells out the equivalent search.space."""
    space: dict[str, str] = {}
    sampler, trials, lines = "", 1, []
    sweeps = [(raw, o) for raw, o in parsed if o.is_sweep_override()]
    for raw, o in sweeps:
        key = o.key_or_group
        if key.startswith("train.") and key[6:] in SEARCHABLE:
            if o.is_interval_sweep():
                sweep: Any = o.value()
                space[key[6:]] = f"{{low: {sweep.start:g}, high: {sweep.end:g}}}"
                sampler = " search.sampler=random"
                trials = 0
            else:
                values = _sweep_values(raw, o)
                space[key[6:]] = f"[{', '.join(values)}]"
                trials *= len(values)
    equivalent = ""
    if space:
        body = ", ".join(f"{k}: {v}" for k, v in space.items())
        equivalent = f"search.space='{{{body}}}'{sampler} search.max_trials=" + \
            (str(trials) if trials else "<trials>")
    for raw, o in sweeps:
        key = o.key_or_group
        if key.startswith("train.") and key[6:] in SEARCHABLE:
            lines.append(f"{raw}: a sweep; one run is a whole search whose trials try train "
                         f"settings: write {equivalent}")
        else:
            lines.append(f"{raw}: a sweep; one run is one search: run one command per value "
                         "(the search's trials sweep train.* settings with search.space)")
    if multirun:
        lines.insert(0, "--multirun: not needed; one run is a whole search whose trials try "
                     f"train settings: write {equivalent or SPACE_EXAMPLE}")
    return lines


def _sweep_values(raw: str, o: Override) -> list[str]:
    """The values as the user typed them (`1e-5`, not Hydra's `1e-05`) where possible."""
    value = split(raw)[2] or ""
    typed = _top_level(value, ",")
    listed = [str(v) for v in o.sweep_string_iterator()]
    return [t.strip() for t in typed] if len(typed) == len(listed) else listed
