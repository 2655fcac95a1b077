"""Runs the per-event modules over real samples and the seeded scenarios; prints digests of every output.

`tests/compiled/test_compiled.py` runs it twice, compiled and as Python (`OPSWARDEN_PURE_PYTHON=1`), and compares.
"""

from __future__ import annotations

import hashlib
import importlib
import sys
from pathlib import Path

import orjson

from detectors.base import Outputs
from detectors.catalog import build_detectors
from detectors.engine import Engine, run
from detectors.evaluation import detectors_for
from detectors.scenario import demo_scenario, demo_workflows, evaluation_scenario
from models.config import OpswardenConfig
from models.parsers import parse_document
from models.parsers.base import ParseContext, Parsed
from streams.routing import decode_item, encode_item


def digest(chunks: list[bytes]) -> str:
    return hashlib.sha256(b"\n".join(chunks)).hexdigest()


def parsed_samples(root: Path) -> list[bytes]:
    """Every item and rejection the parsers make of every sample file (YAML ones are Panther rule files)."""
    out: list[bytes] = []
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".json", ".yml", ".yaml")):
        ctx = ParseContext(origin=path.name)
        result = parse_document(path.read_bytes(), ctx, as_yaml=path.suffix != ".json")
        out += [encode_item(item) for item in result.items]
        out += [orjson.dumps(rejection.model_dump(mode="json")) for rejection in result.rejections]
    return out


def judged(engine: Engine, items: list[Parsed]) -> Outputs:
    """`items` through the engine after the trip between the stream stages (encoded, then decoded)."""
    return run(engine, [decode_item(encode_item(item)) for item in items])


def main() -> None:
    import compiled

    config = OpswardenConfig()
    online = judged(Engine(config, detectors_for(config)), evaluation_scenario()[0])  # six days, three detectors
    everything = Engine(config, build_detectors(config))
    for workflow in demo_workflows():
        everything.upsert_workflow(workflow)
    story = judged(everything, demo_scenario())  # every detector, the judge with its authorizations included
    findings = [*online.findings, *story.findings]
    report = {
        "modules": {name: Path(importlib.import_module(name).__file__ or "").suffix for name in compiled.MODULES},
        "samples": digest(parsed_samples(Path(sys.argv[1]))),
        "findings": digest([orjson.dumps(f.model_dump_ocsf(), option=orjson.OPT_SORT_KEYS) for f in findings]),
        "ledger": digest([entry.to_json(sort_keys=True) for entry in story.ledger]),
        "counts": [len(online.findings), len(story.findings), len(story.ledger)],
    }
    print(orjson.dumps(report).decode())


if __name__ == "__main__":
    main()
