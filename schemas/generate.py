"""The JSON Schema of an opswarden finding, generated from the pydantic model the workers publish with.

Run `python -m schemas.generate` after changing models/finding.py; a test fails while the checked-in schema
differs from the model's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models.finding import OCSF_VERSION, DetectionFinding

SCHEMA_FILE = Path(__file__).parent / "ocsf-detection-finding.schema.json"


def finding_schema() -> dict[str, Any]:
    """What a message on the findings topic may hold: the model's validation schema, with JSON Schema's header."""
    schema = DetectionFinding.model_json_schema()
    schema["description"] = (
        f"One OCSF {OCSF_VERSION} Detection Finding (class 2004) as opswarden publishes it on the findings topic. "
        "Empty and null fields are omitted on the wire; enums are sent as numbers with their names beside them."
    )
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def render() -> str:
    return json.dumps(finding_schema(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    SCHEMA_FILE.write_text(render())
    print(f"wrote {SCHEMA_FILE}")


if __name__ == "__main__":
    main()
