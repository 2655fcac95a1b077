"""`build`: the parsers' constructor, pydantic's validation without `BaseModel.__init__`."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from models.events import ChangeEvent, Principal, RawRef, Scope, Source
from models.parsers.base import ParseContext, build

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
