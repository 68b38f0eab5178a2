"""Secrets kept out of what the controller writes for people and for the record.

Theory of operation. A search's settings may hold secrets: `${oc.env:HF_TOKEN}` resolved
into a setup line (`export HF_TOKEN=hf_...`), a webhook URL with its token in
`search.notify`, a password in a URL. What a job receives to run (its sbatch script, its
pickled spec, a worker's task) is never redacted here: a job that needs a token must get it.
What the controller writes ABOUT the search (the journal, summary.json, report.md/html,
the lock's holder file, status, its log) passes through this module:
- `config`: a settings tree; the value of a key whose name looks secret is replaced whole,
  strings elsewhere go through `text`, and in a list a secret-named flag's next word
  (`--token`, `abc`) is replaced;
- `text`: one string; credentials in URLs (`https://user:pass@host`), `Authorization:` and
  `Bearer` values, `NAME=value` / `name: value` / `--name value` where the name looks
  secret (`export HF_TOKEN=...`, `?access_token=...` in a query string), and the shapes of
  well-known tokens (hf_..., ghp_..., xoxb-..., Slack and Discord webhook paths).
A name looks secret when one of its words (split at `_`, `-`, `.` and camelCase) is one of
`SECRET_WORDS`, or ends with one of the longer ones (`PGPASSWD`). Standard library only:
the jobs import `orchestrator.common`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

MASK = "***"
SECRET_WORDS = frozenset({
    "token", "secret", "password", "passwd", "passphrase", "pwd", "key", "apikey",
    "credential", "credentials", "auth", "authorization", "cookie", "signature",
})
# a word that ends with one of these is secret too (PGPASSWD, GITHUBTOKEN, OPENAIAPIKEY);
# not the short ones: monkey, hockey
_SUFFIXES = ("token", "secret", "password", "passwd", "apikey", "credentials")
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@'\"]+@")
_HEADER = re.compile(r"(?i)\b(?P<name>(?:proxy-)?authorization|x-api-key|api-key|private-token"
                     r"|cookie)(?P<sep>\s*:\s*)[^\r\n\"',;]+")
_BEARER = re.compile(r"(?i)\b(?P<name>bearer)(?P<sep>\s+)[A-Za-z0-9._~+/=-]{8,}")
_NAMED = "|".join(sorted(SECRET_WORDS, key=len, reverse=True))
# a name holding one of the words (checked word by word in `_assigned`), its separator, and
# its value: `NAME=value`, `name: value`, `--name value`
_ASSIGNED = re.compile(
    rf"(?P<name>-{{0,2}}[A-Za-z0-9_.-]*?(?i:{_NAMED})[A-Za-z0-9_.-]*)"
    r"(?P<sep>\s*=\s*|:[ \t]+|[ \t]+)"
    r"(?P<value>\"[^\"]*\"|'[^']*'|[^\s\"',;&)\]}]+)")
_SHAPES = re.compile(
    r"\b(?:hf_[A-Za-z0-9]{20,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
    r"|xox[abposr]-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}"
    r"|glpat-[A-Za-z0-9_-]{20,})")
_WEBHOOK = re.compile(r"(?P<path>hooks\.slack\.com/services/|discord(?:app)?\.com/api/webhooks/"
                      r"|webhook\.office\.com/webhookb2/)[^\s\"'<>]+")


# each pattern above needs one of these, case aside: a string without any (most of the
# journal's paths, keys and ids) skips all six substitutions
_MAY_HOLD = re.compile(rf"(?i)://|bearer|{_NAMED}|hf_|gh[pousr]_|github_pat_|xox[abposr]-"
                       r"|sk-|akia|glpat-|hooks\.slack\.com|discord|webhook\.office\.com")


def secret_name(name: str) -> bool:
    """Does the key, variable or flag `name` look like it holds a secret?"""
    words = {w.lower() for w in _WORD.findall(name)}
    return bool(words & SECRET_WORDS) or any(w.endswith(_SUFFIXES) for w in words)


def text(value: str) -> str:
    """`value` with what looks like a secret in it replaced by MASK."""
    if not value or not _MAY_HOLD.search(value):
        return value
    return _substituted(value)


def _substituted(value: str) -> str:
    out = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", value)
    out = _HEADER.sub(lambda m: f"{m['name']}{m['sep']}{MASK}", out)
    out = _BEARER.sub(lambda m: f"{m['name']}{m['sep']}{MASK}", out)
    out = _ASSIGNED.sub(_assigned, out)
    out = _SHAPES.sub(MASK, out)
    return _WEBHOOK.sub(lambda m: f"{m['path']}{MASK}", out)


def _assigned(match: re.Match[str]) -> str:
    name, sep = match["name"], match["sep"]
    flag_like = name.startswith("-") or "=" in sep or ":" in sep
    if not flag_like or not secret_name(name) or match["value"] == MASK:
        return match[0]
    return f"{name}{sep}{MASK}"


def argv(words: Sequence[str]) -> list[str]:
    """An argument vector: each word through `text`, and the word after a secret-named
    flag (`--hf-token`, `abc`) replaced."""
    out: list[str] = []
    after_flag = False
    for word in words:
        out.append(MASK if after_flag and word else text(word))
        after_flag = word.startswith("-") and "=" not in word and secret_name(word)
    return out


def config(tree: Any) -> Any:
    """A settings tree (dicts, lists, scalars) with its secrets replaced (see the module)."""
    if isinstance(tree, dict):
        return {k: (MASK if _masked(k, v) else config(v)) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        if all(isinstance(word, str) for word in tree):
            return argv(tree)
        return [config(item) for item in tree]
    if isinstance(tree, str):
        return text(tree)
    return tree


def _masked(key: Any, value: Any) -> bool:
    """A secret-named key's value is replaced whole: a scalar that is set (an empty one
    reveals nothing, and stays as it was so that a comparison of settings still holds)."""
    return (isinstance(key, str) and secret_name(key) and not isinstance(value, bool)
            and isinstance(value, (str, int, float)) and value != "")


def strings(tree: Any) -> Any:
    """Every string in `tree` through `text`; keys and structure untouched (a journal
    event: its field names, such as a job's `key`, are not secret)."""
    if isinstance(tree, dict):
        return {k: strings(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(strings(item) for item in tree)
    if isinstance(tree, str):
        return text(tree)
    return tree


def recorded(settings: Any) -> dict[str, Any]:
    """Settings (or their dict) as the journal keeps them: `config` of them. The jobs get
    the real ones; a journal written before redaction is compared redacted, too."""
    is_instance = dataclasses.is_dataclass(settings) and not isinstance(settings, type)
    tree = dataclasses.asdict(settings) if is_instance else settings
    return dict(config(tree))
