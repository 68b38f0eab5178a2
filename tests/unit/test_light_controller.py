"""The controller runs on login nodes: it must not import the ML stack, and start fast."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "transformers", "datasets", "accelerate", "sklearn")


def test_importing_the_controller_does_not_import_ml_libraries() -> None:
    code = (
        "import sys, orchestrator.cli.main, orchestrator.engine.run, "
        "orchestrator.engine.controller, orchestrator.config.compose, "
        "orchestrator.scheduler.slurm, orchestrator.scheduler.local, "
        "orchestrator.scheduler.debug, orchestrator.reporting.outcome, "
        "orchestrator.view.live\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_help_does_not_import_hydra_or_submitit() -> None:
    code = (
        "import sys\nfrom orchestrator.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('hydra', 'submitit', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
