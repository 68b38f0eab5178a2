"""What a submitted job runs: import the job's module there, never in the controller."""

from __future__ import annotations

import importlib
from typing import Any


def call(target: str, spec: Any) -> Any:
    """Run `module:function` on `spec` inside the job's process."""
    module_name, _, function_name = target.partition(":")
    function = getattr(importlib.import_module(module_name), function_name)
    return function(spec)
