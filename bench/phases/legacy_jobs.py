"""The users' training entry for the tiny-model legacy run: `python -m bench.phases.legacy_jobs`.

The legacy loop sbatches `run_train.sh <model> <output_dir>`; for the built-in tiny model that
script runs this module, which trains with exactly the TrainSpec the controller's own request
builder made (pickled by bench.phases.scenario.write_tiny_legacy), into the given output folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.phases.legacy_jobs")
    parser.add_argument("--spec", type=Path, required=True, help="a pickled TrainSpec")
    parser.add_argument("--output-dir", required=True)
    args = parser.parse_args(argv)
    from jobs import train

    spec = pickle.loads(args.spec.read_bytes())  # the bench wrote it
    spec = dataclasses.replace(spec, output_dir=args.output_dir)
    result = train.run(spec)
    print(f"training done: {result}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
