"""The workflow registry from bytes: a YAML or JSON `workflows:` file, or one entry of the compacted
`workflow.registry` topic. Bytes in, objects out; errors name the dotted path of every bad value.

::

    workflows:
      - name: pod-restarter
        class: execution              # read_only | advisory | execution
        owner: team-sre
        purpose: restart crash-looping pods
        principals: ["system:serviceaccount:aiops:restarter"]
        allowed_actions: ["k8s:delete:pods"]
        allowed_targets: ["k8s:prod-*/*/pods/*"]
        ticketless_actions:
          - action: k8s:delete:pods
            environments: [staging, production]
          - k8s:get:pods              # shorthand: any environment, any target
        max_credential_ttl: PT1H      # ISO 8601 duration (no years or months) or seconds

A single string where a list is expected counts as a one-item list. A topic entry is one workflow
object, optionally with `kind: "workflow"`.
"""

from __future__ import annotations

from typing import Any

import orjson
import yaml
from pydantic import ValidationError

from models.config import ConfigError
from models.parsers.authorization import parse_duration
from models.registry import Workflow, WorkflowRegistry
from models.rejection import ParseError

KIND = "workflow"
_LIST_FIELDS = ("principals", "allowed_actions", "allowed_targets")
_TICKETLESS_LIST_FIELDS = ("environments", "targets")


class RegistryError(ConfigError):
    """A registry (or registry entry) that does not validate; the message lists every offending path."""


def _decode(data: bytes, what: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    try:
        return yaml.safe_load(data)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        # PyYAML raises ValueError for impossible implicit timestamps (2026-02-30) and bad !!int/!!float.
        raise RegistryError(f"{what} is neither JSON nor YAML: {str(exc)[:200]}") from exc


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _path(prefix: str, loc: tuple[int | str, ...] | list[int | str]) -> str:
    parts = [prefix] if prefix else []
    parts.extend(str(p) for p in loc)
    return ".".join(parts) or "<root>"


def _normalise(entry: dict[str, Any], prefix: str, errors: list[str]) -> dict[str, Any]:
    out = dict(entry)
    if "kind" in out:
        if out["kind"] != KIND:
            errors.append(f"{_path(prefix, ['kind'])}: must be {KIND!r} when given")
        del out["kind"]
    for key in _LIST_FIELDS:
        if key in out:
            out[key] = _as_list(out[key])
    ticketless = out.get("ticketless_actions")
    if isinstance(ticketless, list):
        items: list[Any] = []
        for item in ticketless:
            if isinstance(item, str):
                item = {"action": item}
            elif isinstance(item, dict):
                item = {k: _as_list(v) if k in _TICKETLESS_LIST_FIELDS else v for k, v in item.items()}
            items.append(item)
        out["ticketless_actions"] = items
    if out.get("max_credential_ttl") is not None:
        where = _path(prefix, ["max_credential_ttl"])
        try:
            out["max_credential_ttl"] = parse_duration(out["max_credential_ttl"], where)
        except ParseError as exc:
            errors.append(exc.detail if exc.detail.startswith(where) else f"{where}: {exc.detail}")
            del out["max_credential_ttl"]
    return out


def _workflow(entry: Any, prefix: str, errors: list[str]) -> Workflow | None:
    if not isinstance(entry, dict):
        errors.append(f"{prefix or '<root>'}: expected a mapping (one workflow), got {type(entry).__name__}")
        return None
    local: list[str] = []
    normalised = _normalise(entry, prefix, local)
    workflow: Workflow | None = None
    try:
        workflow = Workflow.model_validate(normalised)
    except ValidationError as exc:
        local.extend(f"{_path(prefix, err['loc'])}: {err['msg']}" for err in exc.errors())
    if workflow is not None and not workflow.name.strip():
        local.append(f"{_path(prefix, ['name'])}: must not be empty")
    errors.extend(local)
    return None if local else workflow


def registry_from_data(document: Any) -> WorkflowRegistry:
    """Validate an already decoded registry document (`{"workflows": [...]}`; None is empty)."""
    if document is None:
        return WorkflowRegistry()
    if not isinstance(document, dict):
        got = type(document).__name__
        raise RegistryError(
            f"invalid workflow registry:\n  <root>: expected a mapping with a workflows list, got {got}"
        )
    errors = [f"{key}: unknown key (expected workflows)" for key in document if key != "workflows"]
    entries = document.get("workflows") or []
    if not isinstance(entries, list):
        errors.append(f"workflows: expected a list, got {type(entries).__name__}")
        entries = []
    workflows: list[Workflow] = []
    first_at: dict[str, int] = {}
    for index, entry in enumerate(entries):
        workflow = _workflow(entry, f"workflows.{index}", errors)
        if workflow is None:
            continue
        if workflow.name in first_at:
            first = first_at[workflow.name]
            errors.append(f"workflows.{index}.name: duplicate workflow {workflow.name!r} (first at workflows.{first})")
            continue
        first_at[workflow.name] = index
        workflows.append(workflow)
    if errors:
        raise RegistryError("invalid workflow registry:\n  " + "\n  ".join(errors))
    return WorkflowRegistry(workflows=tuple(workflows))


def parse_registry(data: bytes) -> WorkflowRegistry:
    """A registry file's bytes (YAML or JSON) → WorkflowRegistry; RegistryError on anything invalid."""
    return registry_from_data(_decode(data, "workflow registry"))


def parse_workflow(data: bytes) -> Workflow:
    """One `workflow.registry` topic message (a workflow as JSON, `kind: "workflow"` optional) → Workflow."""
    errors: list[str] = []
    workflow = _workflow(_decode(data, "workflow entry"), "", errors)
    if workflow is None:
        raise RegistryError("invalid workflow entry:\n  " + "\n  ".join(errors))
    return workflow
