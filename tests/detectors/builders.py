"""Small constructors for hand-made events and records in detector tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from detectors.base import Detector
from detectors.engine import Engine
from models.authorization import AuthorizationRecord
from models.config import OpswardenConfig
from models.events import (
    ActionEvent,
    ActionPhase,
    ChangeEvent,
    Credential,
    CredentialKind,
    Principal,
    PrincipalKind,
    Scope,
    Source,
)

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ROLE = "arn:aws:iam::111122223333:role/remediator"
CAROL = "arn:aws:iam::111122223333:user/carol"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def principal(
    uid: str = f"{ROLE}-session",
    *,
    kind: PrincipalKind = PrincipalKind.MACHINE,
    issuer: str | None = ROLE,
    human: str | None = None,
    credential: Credential | None = None,
) -> Principal:
    return Principal(uid=uid, kind=kind, issuer=issuer, human=human, credential=credential)


def change(
    event_id: str,
    minutes: float,
    *,
    action: str = "ec2:AuthorizeSecurityGroupIngress",
    resources: tuple[str, ...] = ("arn:aws:ec2:eu-west-1:111122223333:security-group/sg-1",),
    environment: str = "production",
    who: Principal | None = None,
    **extra: Any,
) -> ChangeEvent:
    return ChangeEvent(
        event_id=event_id,
        source=Source.CLOUDTRAIL,
        event_time=at(minutes),
        principal=who or Principal(uid=CAROL, kind=PrincipalKind.HUMAN, name="carol"),
        action=action,
        resources=resources,
        scope=Scope(account="111122223333", region="eu-west-1"),
        environment=environment,
        is_change=True,
        **extra,
    )


def record(record_id: str, **fields: Any) -> AuthorizationRecord:
    base: dict[str, Any] = {
        "id": record_id,
        "status": "approved",
        "type": "normal",
        "owner": "alice@example.com",
        "requested_by": "alice@example.com",
        "approved_by": ["bob@example.com"],
        "principals": [ROLE, CAROL],
        "actions": ["ec2:*SecurityGroup*"],
        "resources": ["arn:aws:ec2:*:111122223333:security-group/*"],
        "environments": ["production"],
        "window": {"start": at(-60).isoformat(), "end": at(60).isoformat()},
    }
    base.update(fields)
    return AuthorizationRecord.model_validate(base)


def action(
    action_id: str,
    minutes: float,
    *,
    phase: ActionPhase = ActionPhase.STARTED,
    run_id: str = "run-1",
    workflow: str = "sg-healer",
    act: str = "ec2:AuthorizeSecurityGroupIngress",
    target: str = "arn:aws:ec2:eu-west-1:111122223333:security-group/sg-1",
    credential_id: str | None = None,
) -> ActionEvent:
    return ActionEvent(
        id=action_id,
        time=at(minutes),
        workflow=workflow,
        run_id=run_id,
        phase=phase,
        action=act,
        target=target,
        environment="production",
        principal=ROLE,
        credential=Credential(id=credential_id, kind=CredentialKind.SHORT_LIVED) if credential_id else None,
    )


def restarted(
    engine: Engine,
    config: OpswardenConfig,
    build: Callable[[OpswardenConfig], Sequence[Detector[Any]]],
    *,
    models: bool = True,
) -> Engine:
    """A new engine with new detectors (from `build`) whose every state (per key, and with `models` the global
    models) went through bytes, as a worker restart would."""
    detectors = build(config)
    stores: dict[str, Any] = {}
    for old, new in zip(engine.detectors, detectors, strict=True):
        stores[new.name] = {
            key: new.decode_state(old.encode_state(state)) for key, state in engine.stores[old.name].items()
        }
        for name, snapshot in old.snapshot_models().items() if models else ():
            new.restore_model(name, snapshot)
    clone = Engine(config, detectors, stores=stores)
    for record_ in engine.context.authorizations:
        clone.context.authorizations.upsert(record_)
    clone.context.watermark = engine.context.watermark
    clone.max_event_time = engine.max_event_time
    clone._next_sweep = dict(engine._next_sweep)  # the runtime keeps its sweep clock beside the tables
    return clone
