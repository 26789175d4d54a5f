"""JSON: a comparison as data, or a run re-emitted in the schema-1 layout."""
from __future__ import annotations

import json


def render_comparison(comp) -> str:
    return json.dumps(comp.to_dict(), indent=1, allow_nan=False) + "\n"


def render_run(doc) -> str:
    return json.dumps(doc.to_dict(), indent=1, allow_nan=False) + "\n"
