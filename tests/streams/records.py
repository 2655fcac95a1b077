"""Native records the stream and command tests send, written by hand."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def cloudtrail_change(event_id: str, moment: datetime) -> dict[str, Any]:
    """A CloudTrail record of an IAM user's `RebootInstances` at `moment`."""
    return {
        "eventVersion": "1.08", "eventID": event_id, "eventTime": moment.isoformat().replace("+00:00", "Z"),
        "eventSource": "ec2.amazonaws.com", "eventName": "RebootInstances", "awsRegion": "eu-west-1",
        "recipientAccountId": "111122223333",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/ops"},
    }  # fmt: skip
