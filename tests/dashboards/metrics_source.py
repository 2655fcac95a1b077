"""Where the end-to-end test's metrics come from: a scrape target plus a way to play one round of a scenario.

Today the source is the real metric functions in streams/metrics.py, fed by the real engine and detectors over
hand-made events, served by the real `serve_metrics` endpoint. When the runtime lands, a source backed by a
live worker (broker + `opswarden worker` + the scenario feeder) replaces `engine_driven_source`: it yields the
worker's metrics address and a `play_round` that produces a scenario batch to the topics; the test is unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import faust

from detectors.catalog import build_detectors
from detectors.engine import Engine
from models.authorization import AuthorizationRecord
from models.config import OpswardenConfig, SuppressionRule
from models.events import ActionEvent, ActionPhase, ChangeEvent, Grant, Principal, PrincipalKind, Scope, Source
from models.parsers import ParseResult, parse_document
from models.parsers.base import ParseContext, Parsed
from streams import metrics

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ACCOUNT = "111122223333"
CAROL = f"arn:aws:iam::{ACCOUNT}:user/carol"
DAVE = f"arn:aws:iam::{ACCOUNT}:user/dave"
EVE = f"arn:aws:iam::{ACCOUNT}:user/eve"
SECURITY_GROUP = f"arn:aws:ec2:eu-west-1:{ACCOUNT}:security-group/sg-1"


@dataclass
class MetricsSource:
    """A /metrics endpoint on loopback and what the scenario behind it is expected to exercise."""

    target: str
    play_round: Callable[[], None]
    #: Metrics the scenario cannot move (their panels must still parse, but may return no data).
    unexercised_metrics: frozenset[str]
    #: Alert rules whose expression the scenario makes true; every other rule must return nothing.
    firing_alerts: frozenset[str]
    rounds_played: int = field(default=0)


def _change(event_id: str, at: datetime, who: str, action: str, environment: str = "production") -> ChangeEvent:
    return ChangeEvent(
        event_id=event_id,
        source=Source.CLOUDTRAIL,
        event_time=at,
        principal=Principal(uid=who, kind=PrincipalKind.HUMAN, name=who.rsplit("/", 1)[-1]),
        action=action,
        resources=(SECURITY_GROUP,),
        scope=Scope(account=ACCOUNT, region="eu-west-1"),
        environment=environment,
        is_change=True,
    )


def _authorization(record_id: str, start: datetime) -> AuthorizationRecord:
    """Carol may change security groups in production from 1 h before `start` until 5 min after it."""
    return AuthorizationRecord.model_validate(
        {
            "id": record_id,
            "status": "approved",
            "owner": "alice@example.com",
            "requested_by": "alice@example.com",
            "approved_by": ["bob@example.com"],
            "principals": [CAROL],
            "actions": ["ec2:*SecurityGroup*"],
            "resources": ["*"],
            "environments": ["production"],
            "window": {
                "start": (start - timedelta(hours=1)).isoformat(),
                "end": (start + timedelta(minutes=5)).isoformat(),
            },
        }
    )


def _round_items(number: int, start: datetime) -> list[Parsed]:
    """One change per verdict, an admin grant (permission creep), and a restart repeated by automation (a loop)."""

    def at(minutes: int) -> datetime:
        return start + timedelta(minutes=minutes)

    admin_grant = _change(f"r{number}-grant", at(5), DAVE, "iam:AttachUserPolicy").model_copy(
        update={
            "grants": (
                Grant(
                    grantee=EVE,
                    privilege="arn:aws:iam::aws:policy/AdministratorAccess",
                    grantee_kind=PrincipalKind.HUMAN,
                ),
            )
        }
    )
    restarts = [
        ActionEvent(
            id=f"r{number}-restart-{minute}",
            time=at(minute),
            workflow="pod-restarter",
            run_id=f"r{number}-run-{minute}",
            phase=ActionPhase.SUCCEEDED,
            action="k8s:delete:pods",
            target="k8s://prod-cluster/payments/pods/api-0",
            environment="production",
            principal="system:serviceaccount:aiops:pod-restarter",
        )
        for minute in (1, 3, 5, 7)
    ]
    return [
        _change(f"r{number}-authorized", at(1), CAROL, "ec2:AuthorizeSecurityGroupIngress"),
        _change(f"r{number}-scope", at(2), CAROL, "ec2:TerminateInstances"),
        _change(f"r{number}-prod", at(3), DAVE, "ec2:AuthorizeSecurityGroupIngress"),
        _change(f"r{number}-staging", at(4), DAVE, "ec2:RebootInstances", "staging"),
        admin_grant,
        *restarts,
        _change(f"r{number}-window", at(9), CAROL, "ec2:RevokeSecurityGroupEgress"),
    ]


def _feed(engine: Engine, items: list[Parsed]) -> None:
    """What the runtime does per message: process it, then record its outputs (published a minute after the
    newest event) and its processing time."""
    for item in items:
        began = time.perf_counter()
        outputs = engine.process(item)
        metrics.record_outputs(outputs, _publish_time(engine))
        topic = "aiops.actions" if isinstance(item, ActionEvent) else "audit.cloudtrail"
        metrics.record_processing(topic, time.perf_counter() - began)


def _publish_time(engine: Engine) -> datetime:
    return (engine.max_event_time or T0) + timedelta(minutes=1)


@contextmanager
def engine_driven_source() -> Iterator[MetricsSource]:
    """The real metric functions over the real engine and detectors, served on a free loopback port."""
    config = OpswardenConfig(
        suppressions=(
            SuppressionRule(
                id="overrun-maintenance", finding_type="out_of_window_change", reason="known overrun", owner="soc"
            ),
        )
    )
    metrics.set_build_info("0.0.0-test", config)
    metrics.install_faust_sensors(faust.App("opswarden-metrics-e2e", broker="kafka://127.0.0.1:1"))
    server = metrics.serve_metrics(0, "127.0.0.1")
    source = MetricsSource(
        target=f"127.0.0.1:{server.server_port}",
        play_round=lambda: None,
        unexercised_metrics=frozenset(
            {
                "opswarden_pending_changes",  # until the judge implements metrics.CountsPendingChanges
                "opswarden_model_keys",  # until a learning detector implements metrics.CountsWarmup
                "opswarden_evicted_keys_total",  # eviction needs days of event time
                "opswarden_faust_messages_received_per_topic_total",  # needs a live worker on Kafka
            }
        ),
        firing_alerts=frozenset(
            {"OpswardenUnauthorizedProductionChange", "OpswardenRemediationLoopActive", "OpswardenPermissionCreep"}
        ),
    )

    def play_round() -> None:
        number = source.rounds_played
        start = T0 + timedelta(hours=3 * number)
        engine = Engine(config, build_detectors(config))
        record = _authorization(f"CHG-{number}", start)
        context = ParseContext(environments=config.environments, origin="change.authorizations")
        parsed_record = parse_document(record.model_dump_json().encode(), context, sources=("authorization",))
        metrics.record_parse("authorization", parsed_record)
        junk = parse_document(b"\x00\x01 not an audit record", context, sources=("cloudtrail",))
        metrics.record_parse("cloudtrail", junk)
        for rejection in junk.rejections:
            metrics.record_dead_letter("audit.cloudtrail", rejection.reason)
        items = _round_items(number, start)
        metrics.record_parse("cloudtrail", ParseResult(items=[i for i in items if isinstance(i, ChangeEvent)]))
        metrics.record_parse("aiops", ParseResult(items=[i for i in items if isinstance(i, ActionEvent)]))
        _feed(engine, [*parsed_record.items, *items])
        publish_at = _publish_time(engine)
        metrics.record_outputs(engine.flush(), publish_at)
        metrics.record_engine_state(engine)
        metrics.record_rebalance()
        metrics.record_consumer_lag("audit.cloudtrail", 0, 120 * (number + 1))
        source.rounds_played += 1

    source.play_round = play_round
    try:
        yield source
    finally:
        server.shutdown()
        server.server_close()
