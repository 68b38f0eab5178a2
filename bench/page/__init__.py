"""results.json and the BENCHMARKS.md page filled from it; imports bench.phases only for values
(the legacy loop's arithmetic, the placements): it runs no phase and touches no cluster.

- `report`: results.json (the targets, the schema, atomic writes) and number formatting;
- `template`: the page's text, BENCHMARKS.md.in, as named string.Template sections;
- `render`: the page in order; `busy` and `missed` fill the sections of the busy phases and
  of the targets a run missed.
"""
