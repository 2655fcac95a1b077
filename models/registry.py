"""The workflow registry: every AIOps workflow as a privileged machine identity with an owner and a class."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from pydantic import ConfigDict, Field

from models.events import Frozen


class WorkflowClass(StrEnum):
    READ_ONLY = "read_only"
    ADVISORY = "advisory"
    EXECUTION = "execution"

    @property
    def may_act(self) -> bool:
        return self is WorkflowClass.EXECUTION


class TicketlessAction(Frozen):
    """An action a workflow may take without an authorization record, in the named environments."""

    action: str
    environments: tuple[str, ...] = ("*",)
    targets: tuple[str, ...] = ("*",)


class Workflow(Frozen):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str
    workflow_class: WorkflowClass = Field(alias="class")
    owner: str | None = None
    purpose: str | None = None
    principals: tuple[str, ...] = ()
    allowed_actions: tuple[str, ...] = ()
    allowed_targets: tuple[str, ...] = ()
    ticketless_actions: tuple[TicketlessAction, ...] = ()
    max_credential_ttl: timedelta | None = None


class WorkflowRegistry(Frozen):
    """`workflows:` list, as in the registry YAML or the compacted `workflow.registry` topic."""

    workflows: tuple[Workflow, ...] = ()
