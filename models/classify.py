"""Which calls are changes: one table for every source, documented in the README.

A call is a change when its operation verb is a mutating verb, unless a rule below says it is a read,
a sign-in, token issuance or a session start. Failed and denied calls are never changes.
"""

from __future__ import annotations

from functools import lru_cache

from models.events import SUCCESS, ChangeEvent, Outcome

#: Leading verbs of mutating operations (CloudTrail eventName, GCP method leaf, generic).
CHANGE_VERBS: tuple[str, ...] = (
    "create", "update", "delete", "put", "attach", "detach", "add", "remove", "set", "replace",
    "reset", "restore", "copy", "modify", "start", "stop", "reboot", "terminate", "run", "authorize",
    "revoke", "enable", "disable", "associate", "disassociate", "register", "deregister", "tag",
    "untag", "insert", "patch", "import", "upload", "change", "apply", "rotate", "deploy", "cancel",
    "batchcreate", "batchdelete", "batchupdate", "undeploy", "rollback", "resize", "scale", "move",
    "rename", "grant", "publish", "destroy",
)  # fmt: skip

#: Operations that read, sign in, issue tokens or start sessions although their verb looks mutating.
NOT_CHANGES: frozenset[str] = frozenset(
    {
        "signin:consolelogin", "sts:assumerole", "sts:assumerolewithsaml", "sts:assumerolewithwebidentity",
        "sts:assumeroot", "sts:getsessiontoken", "sts:getfederationtoken", "sts:getcalleridentity",
        "ssm:startsession", "ssm:resumesession", "bedrock:invokemodel",
        "bedrock:invokemodelwithresponsestream", "lambda:invoke", "lambda:invokefunction",
        "sso:getrolecredentials", "sso-oauth:createtoken", "signin:renewrole", "signin:switchrole",
        "iam:createservicelinkedrole",
        # Kubernetes access reviews and token requests are `create`s that persist nothing.
        "k8s:create:tokenreviews", "k8s:create:subjectaccessreviews", "k8s:create:selfsubjectaccessreviews",
        "k8s:create:localsubjectaccessreviews", "k8s:create:selfsubjectrulesreviews",
        "k8s:create:selfsubjectreviews", "k8s:create:serviceaccounts/token",
        # BigQuery query jobs (data_access `jobservice.insert` / `InsertJob`) read; table writes log apart.
        "gcp:jobservice.insert", "gcp:google.cloud.bigquery.v2.jobservice.insertjob",
        # Azure `/action`s that read a secret, issue a SAS URI or open a console session.
        "microsoft.keyvault/vaults/secrets/getsecret/action", "microsoft.compute/disks/begingetaccess/action",
        "microsoft.serialconsole/serialports/connect/action",
    }
)  # fmt: skip

#: Operations that change although their verb does not say so.
ALWAYS_CHANGES: frozenset[str] = frozenset(
    {
        "iam:passrole", "kms:schedulekeydeletion", "s3:putobject", "ec2:runinstances",
        "iam:uploadsshpublickey", "iam:uploadservercertificate",
        # CloudTrail remediation calls whose verb is not a mutating one: run commands, fail a database over.
        "ssm:sendcommand", "rds:failoverdbcluster", "rds:failoverglobalcluster",
    }
)  # fmt: skip

#: Kubernetes verbs that change the cluster; `exec`/`attach` on pods are changes through their subresource.
K8S_CHANGE_VERBS: frozenset[str] = frozenset({"create", "update", "patch", "delete", "deletecollection"})
K8S_CHANGE_SUBRESOURCES: frozenset[str] = frozenset({"exec", "attach", "portforward", "ephemeralcontainers"})

_READ_PREFIXES = ("describe", "list", "get", "lookup", "search", "head", "batchget", "query", "scan", "check",
                  "validate", "simulate", "view", "select", "estimate", "preview", "test", "watch")  # fmt: skip


@lru_cache(maxsize=4096)
def is_change_operation(action: str) -> bool:
    """For a canonical `service:Operation` action, whether the operation mutates state (remembered per action:
    a source repeats a few hundred of them)."""
    key = action.lower()
    if key in NOT_CHANGES:
        return False
    if key in ALWAYS_CHANGES:
        return True
    operation = action.rsplit(":", 1)[-1].rsplit(".", 1)[-1]
    lowered = operation.lower()
    if lowered.startswith(_READ_PREFIXES):
        return False
    return lowered.startswith(CHANGE_VERBS)


def is_k8s_change(verb: str, subresource: str | None) -> bool:
    if subresource and subresource.lower() in K8S_CHANGE_SUBRESOURCES:
        return verb.lower() in ("create", "get")
    return verb.lower() in K8S_CHANGE_VERBS


def is_azure_change(operation_name: str) -> bool:
    """Azure operations end in `/write`, `/delete` or `/action` when they change something."""
    lowered = operation_name.lower()
    return lowered.endswith(("/write", "/delete", "/action")) and not lowered.endswith(
        ("/listkeys/action", "/read/action", "/listaccountsas/action")
    )


def counts_as_change(mutating: bool, outcome: Outcome) -> bool:
    """Denied and failed calls keep their outcome but are not changes."""
    return mutating and outcome is SUCCESS


def is_production_change(event: ChangeEvent) -> bool:
    """A change that took effect: what the detectors judge. A compiled function rather than a property of the
    model, which ran as Python, five times an event."""
    return event.is_change and event.outcome is SUCCESS
