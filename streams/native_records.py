"""Canonical items back into the native records their topics carry, to feed generated scenarios to Kafka.

The workers parse native records (CloudTrail, opswarden's `aiops.action` and `authorization` schemas), so
a scenario built from canonical objects is written out in those shapes: parsing the result gives the
scenario's items back (same ids, times, principals, actions, resources and grants).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from models.authorization import AuthorizationRecord
from models.events import ActionEvent, ChangeEvent, Principal, Source
from models.parsers.base import Parsed
from streams.settings import TopicNames


def _time(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _identity(principal: Principal, account: str | None) -> dict[str, Any]:
    if principal.issuer:
        session = principal.uid.rsplit("/", 1)[-1]
        return {
            "type": "AssumedRole",
            "arn": principal.uid,
            "principalId": f"AROAOPSWARDEN:{session}",
            "accountId": account,
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "arn": principal.issuer, "userName": principal.name},
            },
        }
    return {"type": "IAMUser", "arn": principal.uid, "accountId": account, "userName": principal.name}


def cloudtrail_record(event: ChangeEvent) -> dict[str, Any]:
    service, name = event.action.split(":", 1)
    record: dict[str, Any] = {
        "eventVersion": "1.08",
        "eventID": event.event_id,
        "eventTime": _time(event.event_time),
        "eventSource": f"{service}.amazonaws.com",
        "eventName": name,
        "awsRegion": event.scope.region,
        "recipientAccountId": event.scope.account,
        "userIdentity": _identity(event.principal, event.scope.account),
        "sourceIPAddress": event.source_ip or "10.0.0.1",
        "resources": [{"ARN": resource} for resource in event.resources],
        "requestParameters": dict(event.details),
    }
    if event.grants:
        grant = event.grants[0]
        record["requestParameters"] |= {"roleName": grant.grantee, "policyArn": grant.privilege}
    if event.error_code:
        record["errorCode"] = event.error_code
    return record


def native_record(item: Parsed) -> dict[str, Any]:
    """The native record for an item; sources without a renderer raise ValueError."""
    if isinstance(item, ChangeEvent) and item.source is Source.CLOUDTRAIL:
        return cloudtrail_record(item)
    if isinstance(item, ActionEvent | AuthorizationRecord):
        return item.model_dump(mode="json", exclude_none=True, exclude={"raw_ref"})
    raise ValueError(f"no native form for {type(item).__name__} ({getattr(item, 'source', item.kind)})")


def topic_for(item: Parsed, topics: TopicNames) -> str:
    if isinstance(item, AuthorizationRecord):
        return topics.name("authorizations")
    if isinstance(item, ActionEvent):
        return topics.name("actions")
    return topics.name("cloudtrail")


def key_for(item: Parsed) -> str:
    return item.event_id if isinstance(item, ChangeEvent) else item.id


def scenario_messages(items: list[Parsed], topics: TopicNames) -> list[tuple[str, str, bytes]]:
    """(topic, key, value) for every item, in the scenario's order."""
    return [(topic_for(item, topics), key_for(item), orjson.dumps(native_record(item))) for item in items]
