"""Workflow registry loader: YAML/JSON files and single topic entries, with dotted-path errors."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.config import ConfigError
from models.registry import TicketlessAction, Workflow, WorkflowClass, WorkflowRegistry
from models.registry_loader import RegistryError, parse_registry, parse_workflow
from tests.models.test_aiops import JSON_VALUES
from tests.samples import PROJECT_ROOT

EXAMPLE = PROJECT_ROOT / "config" / "registry.example.yaml"

VALID = """
workflows:
  - name: pod-restarter
    class: execution
    owner: team-sre
    purpose: restart crash-looping pods
    principals: system:serviceaccount:aiops:restarter
    allowed_actions: ["k8s:delete:pods"]
    allowed_targets: ["k8s:prod-*/*/pods/*"]
    ticketless_actions:
      - action: k8s:delete:pods
        environments: production
      - k8s:get:pods
    max_credential_ttl: PT1H
  - name: advisor
    class: advisory
  - name: reader
    class: read_only
    max_credential_ttl: 900
"""


def errors_of(data: bytes | str) -> str:
    with pytest.raises(RegistryError) as info:
        parse_registry(data.encode() if isinstance(data, str) else data)
    return str(info.value)


def test_valid_yaml() -> None:
    registry = parse_registry(VALID.encode())
    restarter, advisor, reader = registry.workflows
    assert restarter.name == "pod-restarter"
    assert restarter.workflow_class is WorkflowClass.EXECUTION
    assert restarter.owner == "team-sre"
    assert restarter.principals == ("system:serviceaccount:aiops:restarter",)
    assert restarter.allowed_actions == ("k8s:delete:pods",)
    assert restarter.ticketless_actions == (
        TicketlessAction(action="k8s:delete:pods", environments=("production",)),
        TicketlessAction(action="k8s:get:pods"),
    )
    assert restarter.max_credential_ttl == timedelta(hours=1)
    assert advisor.workflow_class is WorkflowClass.ADVISORY
    assert advisor.max_credential_ttl is None
    assert reader.workflow_class is WorkflowClass.READ_ONLY
    assert reader.max_credential_ttl == timedelta(seconds=900)


def test_json_gives_the_same_registry() -> None:
    as_json = orjson.dumps(yaml.safe_load(VALID))
    assert parse_registry(as_json) == parse_registry(VALID.encode())


def test_example_file_loads() -> None:
    registry = parse_registry(EXAMPLE.read_bytes())
    assert [w.name for w in registry.workflows] == [
        "pod-restarter",
        "ec2-rebooter",
        "st2-restart-service",
        "capacity-advisor",
        "cost-reporter",
    ]
    assert {w.workflow_class for w in registry.workflows} == set(WorkflowClass)


@pytest.mark.parametrize("data", [b"", b"# nothing yet\n", b"null", b"workflows: []", b"workflows:"])
def test_empty_registries(data: bytes) -> None:
    assert parse_registry(data) == WorkflowRegistry()


EXEC = {"name": "a", "class": "execution"}
CLASSES = "'read_only', 'advisory' or 'execution'"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"class": "execution"}, "workflows.0.name: Field required"),
        ({"name": "a"}, "workflows.0.class: Field required"),
        ({"name": "a", "class": "autonomous"}, f"workflows.0.class: Input should be {CLASSES}"),
        ({**EXEC, "colour": "red"}, "workflows.0.colour: Extra inputs are not permitted"),
        ({**EXEC, "max_credential_ttl": "P1M"}, "workflows.0.max_credential_ttl: 'P1M'"),
        ({**EXEC, "max_credential_ttl": "1 hour"}, "workflows.0.max_credential_ttl"),
        ({**EXEC, "max_credential_ttl": -5}, "workflows.0.max_credential_ttl must be positive"),
        ({**EXEC, "principals": [1.5]}, "workflows.0.principals.0: Input should be a valid string"),
        ({**EXEC, "ticketless_actions": [{"environments": ["p"]}]}, "ticketless_actions.0.action: Field required"),
        ({**EXEC, "ticketless_actions": "k8s:delete:pods"}, "ticketless_actions: Input should be a valid tuple"),
        ({"name": " ", "class": "execution"}, "workflows.0.name: must not be empty"),
        ({**EXEC, "kind": "rule"}, "workflows.0.kind: must be 'workflow'"),
        ("just-a-name", "workflows.0: expected a mapping (one workflow), got str"),
    ],
)
def test_invalid_entries_name_their_path(entry: Any, expected: str) -> None:
    assert expected in errors_of(orjson.dumps({"workflows": [entry]}))


def test_every_error_is_listed() -> None:
    message = errors_of(
        "workflows:\n  - name: a\n    class: sometimes\n"
        "  - name: b\n    class: execution\n    max_credential_ttl: forever\n"
    )
    assert message.startswith("invalid workflow registry:")
    assert "workflows.0.class" in message
    assert "workflows.1.max_credential_ttl" in message


def test_duplicate_names() -> None:
    message = errors_of(
        "workflows:\n  - {name: a, class: execution}\n  - {name: b, class: advisory}\n  - {name: a, class: read_only}\n"
    )
    assert "workflows.2.name: duplicate workflow 'a' (first at workflows.0)" in message


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("- name: a\n  class: execution\n", "<root>: expected a mapping with a workflows list, got list"),
        ("workflow:\n  - name: a\n", "workflow: unknown key (expected workflows)"),
        ("workflows: {name: a}\n", "workflows: expected a list, got dict"),
        ("workflows: [\n", "neither JSON nor YAML"),
        (b"\xff\xfe\x00garbage\x00", "neither JSON nor YAML"),
        ("workflows: 2026-02-30\n", "neither JSON nor YAML"),
        ("workflows:\n  - name: !!int x\n", "neither JSON nor YAML"),
        ("workflows: &w [*w]\n", "workflows.0: expected a mapping"),
    ],
)
def test_invalid_documents(data: str | bytes, expected: str) -> None:
    assert expected in errors_of(data)


def test_registry_error_is_a_config_error() -> None:
    assert issubclass(RegistryError, ConfigError)


def test_yaml_is_loaded_safely() -> None:
    assert "neither JSON nor YAML" in errors_of("workflows: !!python/object/apply:os.system ['true']\n")


# ---------------------------------------------------------------------------------------------------
# One entry of the compacted workflow.registry topic
# ---------------------------------------------------------------------------------------------------


def test_single_entry_with_and_without_kind() -> None:
    entry = {"kind": "workflow", "name": "pod-restarter", "class": "execution", "principals": ["sa:restarter"]}
    workflow = parse_workflow(orjson.dumps(entry))
    assert workflow.name == "pod-restarter"
    assert workflow.workflow_class is WorkflowClass.EXECUTION
    del entry["kind"]
    assert parse_workflow(orjson.dumps(entry)) == workflow


def test_single_entry_round_trips_through_its_json_dump() -> None:
    for workflow in parse_registry(EXAMPLE.read_bytes()).workflows:
        data = orjson.dumps(workflow.model_dump(mode="json", by_alias=True))
        assert parse_workflow(data) == workflow


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"name": "a", "class": "x"}', "class: Input should be"),
        (b'{"kind": "authorization", "name": "a", "class": "execution"}', "kind: must be 'workflow'"),
        (b'["a"]', "<root>: expected a mapping (one workflow), got list"),
        (b'{"name": "a", "class": "execution", "max_credential_ttl": "PT0S"}', "max_credential_ttl must be positive"),
        (b"{", "neither JSON nor YAML"),
    ],
)
def test_invalid_single_entries(data: bytes, expected: str) -> None:
    with pytest.raises(RegistryError) as info:
        parse_workflow(data)
    assert str(info.value).startswith(("invalid workflow entry", "workflow entry is neither"))
    assert expected in str(info.value)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_VALUES)
def test_junk_only_raises_registry_error(value: Any) -> None:
    for loader, candidate in (
        (parse_registry, value),
        (parse_registry, {"workflows": value}),
        (parse_registry, {"workflows": [value]}),
        (parse_workflow, value),
        (parse_workflow, {"name": "a", "class": "execution", "max_credential_ttl": value}),
    ):
        try:
            result = loader(orjson.dumps(candidate))
        except RegistryError:
            continue
        assert isinstance(result, Workflow | WorkflowRegistry)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_junk_bytes_only_raise_registry_error(data: bytes) -> None:
    with contextlib.suppress(RegistryError):
        parse_registry(data)


def test_example_path_exists() -> None:
    assert Path(EXAMPLE).is_file()


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=":-[]{}&*!#|>'\"\n 0123456789abcnmeTZ.", max_size=80))
def test_yamlish_junk_only_raises_registry_error(text: str) -> None:
    for data in (text, "workflows:\n  - " + text):
        with contextlib.suppress(RegistryError):
            parse_registry(data.encode())
