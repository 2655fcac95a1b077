"""`build`: the parsers' constructor, pydantic's validation without `BaseModel.__init__`."""

import ast
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from models import events
from models.events import ChangeEvent, Principal, RawRef, Scope, Source
from models.parsers.base import ParseContext, build

PARSERS = Path(__file__).resolve().parents[2] / "models" / "parsers"
FIELDS = {
    "event_id": "e-1",
    "source": Source.CLOUDTRAIL,
    "event_time": datetime(2026, 3, 2, 10, 30, tzinfo=timezone(timedelta(hours=2))),
    "principal": Principal(uid="arn:aws:iam::1:user/alice"),
    "action": "ec2:RunInstances",
    "resources": ["arn:aws:ec2:eu-west-1:1:instance/i-1"],
    "scope": {"account": "1", "region": "eu-west-1"},
    "is_change": True,
}


def test_build_validates_as_the_keyword_constructor_does() -> None:
    built = build(ChangeEvent, FIELDS)
    assert built == ChangeEvent(**FIELDS)
    assert built.event_time == datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
    assert built.event_time.tzinfo is UTC  # the models' UTC validator ran
    assert built.resources == ("arn:aws:ec2:eu-west-1:1:instance/i-1",)
    assert built.scope == Scope(account="1", region="eu-west-1")
    assert built.model_fields_set == set(FIELDS)


@pytest.mark.parametrize(
    "change",
    [
        {"unexpected": "field"},  # extra="forbid": a misspelt name fails, as a keyword would
        {"event_time": "not a time"},
        {"source": "mainframe"},
    ],
)
def test_build_rejects_what_the_constructor_rejects(change: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        build(ChangeEvent, FIELDS | change)


def test_raw_ref_names_the_record() -> None:
    ref = ParseContext(origin="audit.cloudtrail/0@7").at(3).raw_ref()
    assert ref == RawRef(origin="audit.cloudtrail/0@7", index=3)


def build_calls() -> list[tuple[str, int, str, list[str]]]:
    """Every `build(Model, {...})` in the parsers: file, line, model name and the literal dict's keys."""
    calls = []
    for path in sorted(PARSERS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "build":
                model, fields = node.args
                where = f"{path.name}:{node.lineno}"
                assert isinstance(model, ast.Name), where
                assert isinstance(fields, ast.Dict), f"{where}: fields must be a literal dict"
                keys = [key.value for key in fields.keys if isinstance(key, ast.Constant)]
                assert len(keys) == len(fields.keys), f"{where}: field names must be literal"
                calls.append((path.name, node.lineno, model.id, keys))
    return calls


def test_every_build_in_the_parsers_names_only_fields_of_its_model() -> None:
    """What the pydantic mypy plugin checked of a keyword call, checked of `build`'s literal dicts: a misspelt
    field in a branch no test reaches would otherwise reject that branch's records at run time."""
    calls = build_calls()
    assert {model for _, _, model, _ in calls} >= {"ChangeEvent", "Principal", "Credential", "Grant", "Scope"}
    for name, line, model, keys in calls:
        fields = getattr(events, model).model_fields
        assert set(keys) <= set(fields), f"{name}:{line}: {model} has no field {sorted(set(keys) - set(fields))}"
