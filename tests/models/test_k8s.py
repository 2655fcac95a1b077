"""Kubernetes audit parser: native, GKE and AKS shapes, stages, identities, grants, secrets, and junk."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given

from models.config import EnvironmentConfig, EnvironmentSelectors
from models.events import ChangeEvent, CredentialKind, Outcome, PrincipalKind, Source
from models.parsers import detect, k8s, parse_document
from models.parsers.base import ParseContext
from models.rejection import RejectReason
from tests.models.parsing import single_event, single_rejection
from tests.models.test_gcp import JUNK, assert_survives, json_values, mutated

RECEIVED = datetime(2024, 5, 1, 12, 0, 9, tzinfo=UTC)
CTX = ParseContext(received_time=RECEIVED, origin="topic-k8s")


def audit(**overrides: Any) -> dict[str, Any]:
    """A complete `audit.k8s.io/v1` ResponseComplete Event: a human patching a Deployment."""
    event: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "RequestResponse",
        "auditID": "5d7e0f3c-0001",
        "stage": "ResponseComplete",
        "requestURI": "/apis/apps/v1/namespaces/shop/deployments/web",
        "verb": "patch",
        "user": {"username": "alice@example.com", "groups": ["devs", "system:authenticated"]},
        "sourceIPs": ["203.0.113.7", "10.0.0.1"],
        "userAgent": "kubectl/v1.29.0",
        "objectRef": {
            "resource": "deployments",
            "namespace": "shop",
            "name": "web",
            "apiGroup": "apps",
            "apiVersion": "v1",
        },
        "responseStatus": {"metadata": {}, "code": 200},
        "requestReceivedTimestamp": "2024-05-01T12:00:00.000100Z",
        "stageTimestamp": "2024-05-01T12:00:00.050000Z",
        "annotations": {
            "authorization.k8s.io/decision": "allow",
            "authorization.k8s.io/reason": 'RBAC: allowed by RoleBinding "devs/shop"',
            "unrelated.example.com/noise": "x" * 50,
        },
    }
    event.update(overrides)
    return event


def binding(resource: str = "clusterrolebindings", **overrides: Any) -> dict[str, Any]:
    body = {
        "kind": "ClusterRoleBinding",
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "metadata": {"name": "admin-binding"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [
            {"kind": "ServiceAccount", "name": "remediator", "namespace": "aiops"},
            {"kind": "User", "name": "bob@example.com", "apiGroup": "rbac.authorization.k8s.io"},
            {"kind": "Group", "name": "sre", "apiGroup": "rbac.authorization.k8s.io"},
            {"kind": "User"},
            "junk",
        ],
    }
    object_ref = {
        "resource": resource,
        "name": "admin-binding",
        "apiGroup": "rbac.authorization.k8s.io",
        "apiVersion": "v1",
    }
    fields: dict[str, Any] = {
        "verb": "create",
        "requestURI": f"/apis/rbac.authorization.k8s.io/v1/{resource}",
        "objectRef": object_ref,
        "requestObject": body,
        "responseStatus": {"code": 201},
    }
    fields.update(overrides)
    return audit(**fields)


def gke(**proto: Any) -> dict[str, Any]:
    """A GKE admin-activity entry for a pod create."""
    payload: dict[str, Any] = {
        "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
        "serviceName": "k8s.io",
        "methodName": "io.k8s.core.v1.pods.create",
        "resourceName": "core/v1/namespaces/shop/pods/web-1",
        "authenticationInfo": {"principalEmail": "alice@example.com"},
        "authorizationInfo": [{"granted": True, "permission": "io.k8s.core.v1.pods.create"}],
        "requestMetadata": {"callerIp": "203.0.113.7", "callerSuppliedUserAgent": "kubectl/v1.29.0"},
        "status": {},
    }
    payload.update(proto)
    return {
        "insertId": "gke-insert-1",
        "logName": "projects/shop-prod/logs/cloudaudit.googleapis.com%2Factivity",
        "operation": {"id": "5d7e0f3c-0002", "producer": "k8s.io", "first": True, "last": True},
        "resource": {
            "type": "k8s_cluster",
            "labels": {"project_id": "shop-prod", "location": "europe-west1", "cluster_name": "prod-gke"},
        },
        "timestamp": "2024-05-01T12:00:00.5Z",
        "protoPayload": payload,
    }


def aks(event: dict[str, Any] | None = None, **outer: Any) -> dict[str, Any]:
    """An AKS diagnostic record carrying `event` as a JSON string."""
    record: dict[str, Any] = {
        "category": "kube-audit",
        "operationName": "Microsoft.ContainerService/managedClusters/diagnosticLogs/Read",
        "resourceId": "/SUBSCRIPTIONS/0000/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE"
        "/MANAGEDCLUSTERS/prod-aks",
        "time": "2024-05-01T12:00:01Z",
        "properties": {"log": orjson.dumps(event if event is not None else audit()).decode(), "stream": "stdout"},
    }
    record.update(outer)
    return record


def parse_one(record: Any, ctx: ParseContext = CTX) -> ChangeEvent:
    return single_event(record, "k8s", ctx)


def rejection(record: Any) -> tuple[RejectReason, str]:
    refused = single_rejection(record, "k8s", CTX)
    return refused.reason, refused.detail


# --- native events ------------------------------------------------------------------------------------


def test_native_event_maps_every_field() -> None:
    event = parse_one(audit())
    assert event.source is Source.K8S
    assert event.event_id == "5d7e0f3c-0001"
    assert event.event_time == datetime(2024, 5, 1, 12, 0, 0, 100, tzinfo=UTC)
    assert event.received_time == RECEIVED
    assert event.action == "k8s:patch:deployments"
    assert event.resources == ("k8s:default/shop/deployments/web",)
    assert (event.scope.cluster, event.scope.namespace) == ("default", "shop")
    assert event.environment == "production"
    assert event.principal.uid == "alice@example.com"
    assert event.principal.kind is PrincipalKind.HUMAN
    assert event.principal.human == "alice@example.com"
    assert event.outcome is Outcome.SUCCESS
    assert event.error_code is None
    assert event.is_change is True
    assert event.source_ip == "203.0.113.7"
    assert event.user_agent == "kubectl/v1.29.0"
    assert event.grants == ()
    assert event.raw_ref is not None
    assert (event.raw_ref.origin, event.raw_ref.index) == ("topic-k8s", 0)
    assert event.details["stage"] == "ResponseComplete"
    assert event.details["api_group"] == "apps"
    assert event.details["user_groups"] == ["devs", "system:authenticated"]
    assert set(event.details["annotations"]) == {"authorization.k8s.io/decision", "authorization.k8s.io/reason"}


@pytest.mark.parametrize(
    "variant",
    [
        {"apiVersion": "audit.k8s.io/v1beta1"},
        {"apiVersion": None},
        {"apiVersion": None, "kind": None},
    ],
)
def test_v1beta1_and_events_without_api_version(variant: dict[str, Any]) -> None:
    record = {k: v for k, v in audit(**variant).items() if v is not None}
    assert k8s.matches(record)
    assert parse_one(record).action == "k8s:patch:deployments"


def test_time_falls_back_to_stage_timestamp() -> None:
    record = audit()
    del record["requestReceivedTimestamp"]
    assert parse_one(record).event_time == datetime(2024, 5, 1, 12, 0, 0, 50000, tzinfo=UTC)


def test_eks_space_separated_timestamps() -> None:
    event = parse_one(audit(requestReceivedTimestamp="2022-11-29 00:09:04.38"))
    assert event.event_time == datetime(2022, 11, 29, 0, 9, 4, 380000, tzinfo=UTC)


def test_cluster_annotation_and_environment_selectors() -> None:
    annotations = {k8s.CLUSTER_ANNOTATION: "prod-eks"}
    environments = EnvironmentConfig(
        environments={
            "sandbox": EnvironmentSelectors(namespaces=("sandbox-*",)),
            "staging": EnvironmentSelectors(clusters=("stg-*",)),
        }
    )
    ctx = ParseContext(environments=environments)
    event = parse_one(audit(annotations=annotations), ctx)
    assert event.scope.cluster == "prod-eks"
    assert event.resources == ("k8s:prod-eks/shop/deployments/web",)
    assert event.environment == "production"
    staging = parse_one(audit(annotations={k8s.CLUSTER_ANNOTATION: "stg-1"}), ctx)
    assert staging.environment == "staging"
    ref = {"resource": "pods", "namespace": "sandbox-7", "name": "p"}
    assert parse_one(audit(objectRef=ref), ctx).environment == "sandbox"


def test_cluster_scoped_resource_uses_underscore_namespace() -> None:
    event = parse_one(binding(annotations={k8s.CLUSTER_ANNOTATION: "prod-eks"}))
    assert event.action == "k8s:create:clusterrolebindings"
    assert event.resources == ("k8s:prod-eks/_/clusterrolebindings/admin-binding",)
    assert event.scope.namespace is None


@pytest.mark.parametrize(
    ("verb", "subresource", "action", "is_change"),
    [
        ("create", "exec", "k8s:create:pods/exec", True),
        ("get", "exec", "k8s:get:pods/exec", True),
        ("create", "attach", "k8s:create:pods/attach", True),
        ("create", "eviction", "k8s:create:pods/eviction", True),
        ("get", "log", "k8s:get:pods/log", False),
        ("get", None, "k8s:get:pods", False),
        ("list", None, "k8s:list:pods", False),
        ("watch", None, "k8s:watch:pods", False),
        ("delete", None, "k8s:delete:pods", True),
        ("deletecollection", None, "k8s:deletecollection:pods", True),
        ("update", "status", "k8s:update:pods/status", True),
    ],
)
def test_actions_and_changes(verb: str, subresource: str | None, action: str, is_change: bool) -> None:
    ref: dict[str, Any] = {"resource": "pods", "namespace": "shop", "name": "web-1"}
    if subresource:
        ref["subresource"] = subresource
    event = parse_one(audit(verb=verb, objectRef=ref, responseStatus={"code": 101 if subresource == "exec" else 200}))
    assert event.action == action
    assert event.resources == ("k8s:default/shop/pods/web-1",)
    assert event.is_change is is_change


@pytest.mark.parametrize(
    ("resource", "subresource"),
    [
        ("tokenreviews", None),
        ("selfsubjectaccessreviews", None),
        ("subjectaccessreviews", None),
        ("serviceaccounts", "token"),
    ],
)
def test_reviews_and_token_requests_are_not_changes(resource: str, subresource: str | None) -> None:
    ref = {"resource": resource, "namespace": "kube-system", "name": "x"}
    if subresource:
        ref["subresource"] = subresource
    event = parse_one(audit(verb="create", objectRef=ref, responseStatus={"code": 201}))
    assert event.outcome is Outcome.SUCCESS
    assert event.is_change is False


def test_create_without_object_name_takes_it_from_the_body() -> None:
    ref = {"resource": "configmaps", "namespace": "shop", "apiVersion": "v1"}
    body = {"kind": "ConfigMap", "metadata": {"name": "settings"}}
    event = parse_one(audit(verb="create", objectRef=ref, requestObject=body, responseStatus={"code": 201}))
    assert event.resources == ("k8s:default/shop/configmaps/settings",)
    listing = parse_one(audit(verb="list", objectRef={"resource": "configmaps", "namespace": "shop"}))
    assert listing.resources == ("k8s:default/shop/configmaps",)


def test_non_resource_request() -> None:
    record = audit(verb="get", requestURI="/healthz?verbose=1", user={"username": "system:anonymous"})
    del record["objectRef"]
    event = parse_one(record)
    assert event.action == "k8s:get:/healthz"
    assert event.resources == ()
    assert event.is_change is False
    assert event.principal.kind is PrincipalKind.UNKNOWN


# --- stages and outcomes ------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["RequestReceived", "ResponseStarted"])
def test_non_final_stages_are_rejected(stage: str) -> None:
    reason, detail = rejection(audit(stage=stage))
    assert reason is RejectReason.INVALID_VALUE
    assert stage in detail
    assert "ResponseComplete" in detail


def test_event_without_stage_is_complete_and_panic_is_a_failure() -> None:
    record = audit()
    del record["stage"]
    assert parse_one(record).is_change is True
    panic = parse_one(audit(stage="Panic", responseStatus=None))
    assert (panic.outcome, panic.error_code, panic.is_change) == (Outcome.FAILED, "Panic", False)


def test_one_request_logged_at_every_stage_is_one_event() -> None:
    stages = [audit(stage=s) for s in ("RequestReceived", "ResponseStarted", "ResponseComplete")]
    result = parse_document(orjson.dumps({"kind": "EventList", "items": stages}), CTX)
    assert [e.event_id for e in result.items if isinstance(e, ChangeEvent)] == ["5d7e0f3c-0001"]
    assert [r.reason for r in result.rejections] == [RejectReason.INVALID_VALUE] * 2


@pytest.mark.parametrize(
    ("status", "outcome", "error_code"),
    [
        ({"code": 200}, Outcome.SUCCESS, None),
        ({"code": 201}, Outcome.SUCCESS, None),
        ({"code": 101}, Outcome.SUCCESS, None),
        ({"code": 401}, Outcome.DENIED, "401"),
        ({"code": 403, "reason": "Forbidden", "status": "Failure"}, Outcome.DENIED, "Forbidden"),
        ({"code": 404, "reason": "NotFound"}, Outcome.FAILED, "NotFound"),
        ({"code": 409}, Outcome.FAILED, "409"),
        ({"code": 422}, Outcome.FAILED, "422"),
        ({"code": 500}, Outcome.FAILED, "500"),
        ({"code": "200"}, Outcome.SUCCESS, None),
        ({"code": "403"}, Outcome.DENIED, "403"),
        ({"code": "two hundred"}, Outcome.SUCCESS, None),
        (None, Outcome.SUCCESS, None),
    ],
)
def test_outcomes(status: dict[str, Any] | None, outcome: Outcome, error_code: str | None) -> None:
    event = parse_one(audit(responseStatus=status))
    assert event.outcome is outcome
    assert event.error_code == error_code
    assert event.is_change is (outcome is Outcome.SUCCESS)


def test_forbid_decision_without_code_is_denied() -> None:
    event = parse_one(audit(responseStatus=None, annotations={"authorization.k8s.io/decision": "forbid"}))
    assert event.outcome is Outcome.DENIED


# --- identities ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "kind"),
    [
        ("alice@example.com", PrincipalKind.HUMAN),
        ("kubernetes-admin", PrincipalKind.HUMAN),
        ("system:serviceaccount:aiops:remediator", PrincipalKind.MACHINE),
        ("system:node:ip-10-0-0-1.ec2.internal", PrincipalKind.SERVICE),
        ("system:kube-controller-manager", PrincipalKind.SERVICE),
        ("system:kube-scheduler", PrincipalKind.SERVICE),
        ("system:apiserver", PrincipalKind.SERVICE),
        ("eks:node-manager", PrincipalKind.SERVICE),
        ("system:anonymous", PrincipalKind.UNKNOWN),
    ],
)
def test_principal_kinds(username: str, kind: PrincipalKind) -> None:
    principal = parse_one(audit(user={"username": username})).principal
    assert principal.uid == username
    assert principal.kind is kind
    assert principal.human == (username if kind is PrincipalKind.HUMAN else None)


def test_missing_user_is_unknown() -> None:
    record = audit()
    del record["user"]
    assert parse_one(record).principal.uid == "unknown"


def test_eks_iam_session() -> None:
    user = {
        "username": "kubernetes-admin",
        "uid": "aws-iam-authenticator:123412341234:AROAEXAMPLE",
        "extra": {
            "accessKeyId": ["ASIAEXAMPLEEXAMPLE00"],
            "arn": ["arn:aws:sts::123412341234:assumed-role/DevAdministrator/1669660343"],
            "canonicalArn": ["arn:aws:iam::123412341234:role/DevAdministrator"],
            "sessionName": ["1669660343"],
        },
    }
    principal = parse_one(audit(user=user)).principal
    assert principal.issuer == "arn:aws:iam::123412341234:role/DevAdministrator"
    assert principal.session_name == "1669660343"
    assert principal.credential is not None
    assert (principal.credential.id, principal.credential.kind) == ("ASIAEXAMPLEEXAMPLE00", CredentialKind.SHORT_LIVED)


def test_impersonation_acts_as_the_impersonated_identity_and_resolves_the_person() -> None:
    record = audit(impersonatedUser={"username": "system:serviceaccount:aiops:remediator", "groups": ["x"]})
    principal = parse_one(record).principal
    assert principal.uid == "system:serviceaccount:aiops:remediator"
    assert principal.kind is PrincipalKind.MACHINE
    assert principal.issuer == "alice@example.com"
    assert principal.human == "alice@example.com"
    assert principal.identities() == ("system:serviceaccount:aiops:remediator", "alice@example.com")


def test_machine_impersonating_a_user_has_no_person_behind_it() -> None:
    record = audit(
        user={"username": "system:serviceaccount:ci:deployer"}, impersonatedUser={"username": "bob@example.com"}
    )
    principal = parse_one(record).principal
    assert (principal.uid, principal.kind) == ("bob@example.com", PrincipalKind.HUMAN)
    assert principal.issuer == "system:serviceaccount:ci:deployer"
    assert principal.human is None


# --- grants -------------------------------------------------------------------------------------------


def test_cluster_role_binding_grants_one_per_subject() -> None:
    event = parse_one(binding())
    assert [(g.grantee, g.privilege, g.grantee_kind) for g in event.grants] == [
        ("system:serviceaccount:aiops:remediator", "ClusterRole:cluster-admin", PrincipalKind.MACHINE),
        ("bob@example.com", "ClusterRole:cluster-admin", PrincipalKind.HUMAN),
        ("sre", "ClusterRole:cluster-admin", PrincipalKind.UNKNOWN),
    ]
    assert event.is_change is True


def test_role_binding_service_account_defaults_to_the_binding_namespace() -> None:
    ref = {"resource": "rolebindings", "namespace": "shop", "name": "edit", "apiGroup": "rbac.authorization.k8s.io"}
    body = {"roleRef": {"kind": "Role", "name": "editor"}, "subjects": [{"kind": "ServiceAccount", "name": "bot"}]}
    event = parse_one(binding(objectRef=ref, requestObject=body))
    assert [(g.grantee, g.privilege) for g in event.grants] == [("system:serviceaccount:shop:bot", "Role:editor")]
    assert event.resources == ("k8s:default/shop/rolebindings/edit",)


def test_patched_binding_takes_the_role_from_the_response() -> None:
    patch = {"subjects": [{"kind": "User", "name": "carol@example.com"}]}
    response = binding()["requestObject"]
    event = parse_one(binding(verb="patch", requestObject=patch, responseObject=response, responseStatus={"code": 200}))
    assert [(g.grantee, g.privilege) for g in event.grants] == [("carol@example.com", "ClusterRole:cluster-admin")]


@pytest.mark.parametrize(
    "overrides",
    [
        {"responseStatus": {"code": 403}},
        {"requestObject": {"roleRef": {"kind": "ClusterRole", "name": "cluster-admin"}}},
        {"requestObject": {"subjects": [{"kind": "User", "name": "x"}]}},
        {"requestObject": None},
        {"verb": "delete", "responseStatus": {"code": 200}},
        {"verb": "get", "responseStatus": {"code": 200}},
    ],
)
def test_no_grant_without_a_successful_full_binding(overrides: dict[str, Any]) -> None:
    assert parse_one(binding(**overrides)).grants == ()


def test_roles_are_not_grants() -> None:
    assert parse_one(binding(resource="clusterroles")).grants == ()


# --- secrets and redaction ----------------------------------------------------------------------------


SECRET_BODY = {
    "kind": "Secret",
    "apiVersion": "v1",
    "metadata": {"name": "db-creds", "namespace": "shop"},
    "type": "Opaque",
    "data": {"password": "aHVudGVyMi1zdXBlci1zZWNyZXQ="},
    "stringData": {"api-key": "plain-text-api-key-value"},
}


def secret_create() -> dict[str, Any]:
    return audit(
        verb="create",
        requestURI="/api/v1/namespaces/shop/secrets",
        objectRef={"resource": "secrets", "namespace": "shop", "apiVersion": "v1"},
        requestObject=SECRET_BODY,
        responseObject={**SECRET_BODY, "stringData": None},
        responseStatus={"code": 201},
    )


@pytest.mark.parametrize("shape", ["native", "aks"])
def test_secret_values_never_reach_the_event(shape: str) -> None:
    record = secret_create() if shape == "native" else aks(secret_create())
    event = parse_one(record)
    assert event.action == "k8s:create:secrets"
    assert event.resources[0].endswith("/shop/secrets/db-creds")
    dumped = event.model_dump_json()
    for value in ("aHVudGVyMi1zdXBlci1zZWNyZXQ=", "plain-text-api-key-value", "hunter2"):
        assert value not in dumped


def test_tokens_in_the_request_uri_are_redacted() -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    uri = f"/api/v1/namespaces/shop/pods/web-1/exec?command=curl&command=-H&command=Authorization:+Bearer+{token}"
    ref = {"resource": "pods", "subresource": "exec", "namespace": "shop", "name": "web-1"}
    event = parse_one(audit(verb="create", requestURI=uri, objectRef=ref, responseStatus={"code": 101}))
    assert token not in event.model_dump_json()


# --- rejections ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "reason", "field"),
    [
        (lambda r: r.pop("auditID"), RejectReason.MISSING_FIELD, "auditID"),
        (lambda r: r.pop("verb"), RejectReason.MISSING_FIELD, "verb"),
        (
            lambda r: [r.pop("requestReceivedTimestamp"), r.pop("stageTimestamp")],
            RejectReason.MISSING_FIELD,
            "Timestamp",
        ),
        (lambda r: r.update(requestReceivedTimestamp="soon"), RejectReason.BAD_TIME, "requestReceivedTimestamp"),
        (lambda r: r.update(verb=["get"]), RejectReason.INVALID_VALUE, "verb"),
        (lambda r: r.update(stage=3), RejectReason.INVALID_VALUE, "stage"),
        (lambda r: [r.pop("objectRef"), r.pop("requestURI")], RejectReason.MISSING_FIELD, "objectRef"),
    ],
)
def test_partial_or_swapped_events_are_rejected(mutate: Any, reason: RejectReason, field: str) -> None:
    record = audit()
    mutate(record)
    got, detail = rejection(record)
    assert got is reason
    assert field in detail


def test_type_swapped_optional_fields_are_ignored() -> None:
    event = parse_one(
        audit(user="alice", sourceIPs="1.2.3.4", objectRef=["pods"], requestURI="/api/v1/pods", annotations=[1])
    )
    assert event.principal.uid == "unknown"
    assert event.source_ip == "1.2.3.4"
    assert event.action == "k8s:patch:/api/v1/pods"


# --- GKE ----------------------------------------------------------------------------------------------


def test_gke_entry() -> None:
    event = parse_one(gke())
    assert event.source is Source.K8S
    assert event.event_id == "gke-insert-1"
    assert event.action == "k8s:create:pods"
    assert event.resources == ("k8s:prod-gke/shop/pods/web-1",)
    assert (event.scope.cluster, event.scope.namespace, event.scope.region) == ("prod-gke", "shop", "europe-west1")
    assert event.principal.uid == "alice@example.com"
    assert event.principal.kind is PrincipalKind.HUMAN
    assert event.is_change is True
    assert (event.source_ip, event.user_agent) == ("203.0.113.7", "kubectl/v1.29.0")
    assert event.details["project"] == "shop-prod"


@pytest.mark.parametrize(
    ("method", "resource_name", "action", "resource"),
    [
        ("io.k8s.core.v1.pods.exec.create", "core/v1/namespaces/shop/pods/web-1/exec", "k8s:create:pods/exec",
         "k8s:prod-gke/shop/pods/web-1"),
        ("io.k8s.rbac.v1.clusterrolebindings.create", "rbac.authorization.k8s.io/v1/clusterrolebindings/admin",
         "k8s:create:clusterrolebindings", "k8s:prod-gke/_/clusterrolebindings/admin"),
        ("io.k8s.apps.v1.deployments.patch", "apps/v1/namespaces/shop/deployments/web", "k8s:patch:deployments",
         "k8s:prod-gke/shop/deployments/web"),
        ("io.k8s.core.v1.namespaces.delete", "core/v1/namespaces/old", "k8s:delete:namespaces",
         "k8s:prod-gke/_/namespaces/old"),
        ("io.k8s.core.v1.pods.list", "core/v1/namespaces/shop/pods", "k8s:list:pods", "k8s:prod-gke/shop/pods"),
        ("io.k8s.core.v1.pods.get", None, "k8s:get:pods", "k8s:prod-gke/_/pods"),
    ],
)  # fmt: skip
def test_gke_methods(method: str, resource_name: str | None, action: str, resource: str) -> None:
    proto: dict[str, Any] = {"methodName": method, "resourceName": resource_name}
    event = parse_one(gke(**proto))
    assert event.action == action
    assert event.resources == (resource,)


def test_gke_principals_and_outcomes() -> None:
    sa = parse_one(gke(authenticationInfo={"principalEmail": "system:serviceaccount:aiops:remediator"}))
    assert sa.principal.kind is PrincipalKind.MACHINE
    robot = "service-1@container-engine-robot.iam.gserviceaccount.com"
    assert parse_one(gke(authenticationInfo={"principalEmail": robot})).principal.kind is PrincipalKind.SERVICE
    denied = parse_one(gke(status={"code": 7, "message": "Forbidden"}))
    assert (denied.outcome, denied.is_change) == (Outcome.DENIED, False)
    not_granted = parse_one(gke(authorizationInfo=[{"granted": False, "permission": "io.k8s.core.v1.pods.create"}]))
    assert not_granted.outcome is Outcome.DENIED
    conflict = parse_one(gke(status={"code": 10, "message": "already exists"}))
    assert (conflict.outcome, conflict.error_code) == (Outcome.FAILED, "ABORTED")


def test_gke_event_ids() -> None:
    record = gke()
    del record["insertId"]
    assert parse_one(record).event_id == "5d7e0f3c-0002"
    del record["operation"]
    first = parse_one(record).event_id
    assert first.startswith("gke-")
    assert parse_one(copy.deepcopy(record)).event_id == first
    record["protoPayload"]["resourceName"] = "core/v1/namespaces/shop/pods/web-2"
    assert parse_one(record).event_id != first


def test_gke_first_entry_of_a_long_request_is_rejected() -> None:
    record = gke()
    record["operation"] = {"id": "x", "producer": "k8s.io", "first": True}
    reason, detail = rejection(record)
    assert reason is RejectReason.INVALID_VALUE
    assert "not final" in detail
    record["operation"] = {"id": "x", "producer": "k8s.io", "last": True}
    assert parse_one(record).event_id == "gke-insert-1"


def test_gke_binding_grants_from_the_request() -> None:
    request = binding()["requestObject"]
    proto = {
        "methodName": "io.k8s.rbac.v1.clusterrolebindings.create",
        "resourceName": "rbac.authorization.k8s.io/v1/clusterrolebindings/admin-binding",
        "request": request,
    }
    grants = parse_one(gke(**proto)).grants
    assert [g.grantee for g in grants] == ["system:serviceaccount:aiops:remediator", "bob@example.com", "sre"]


@pytest.mark.parametrize("method", ["io.k8s.readyz", "io.k8s.", "compute.instances.insert"])
def test_gke_methods_without_verb_are_rejected(method: str) -> None:
    reason, _ = rejection(gke(methodName=method))
    assert reason is RejectReason.INVALID_VALUE


def test_gke_entry_without_timestamp_is_rejected() -> None:
    record = gke()
    del record["timestamp"]
    assert rejection(record) == (RejectReason.MISSING_FIELD, "missing field timestamp")


# --- AKS ----------------------------------------------------------------------------------------------


def test_aks_record() -> None:
    event = parse_one(aks())
    assert event.source is Source.K8S
    assert event.event_id == "5d7e0f3c-0001"
    assert event.scope.cluster == "prod-aks"
    assert event.resources == ("k8s:prod-aks/shop/deployments/web",)
    assert event.details["shape"] == "aks"


def test_aks_admin_category_time_fallback_and_object_log() -> None:
    inner = audit()
    del inner["requestReceivedTimestamp"], inner["stageTimestamp"]
    event = parse_one(aks(inner, category="kube-audit-admin"))
    assert event.event_time == datetime(2024, 5, 1, 12, 0, 1, tzinfo=UTC)
    as_object = aks(category="kube-audit")
    as_object["properties"]["log"] = audit()
    assert parse_one(as_object).event_id == "5d7e0f3c-0001"


def deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"x": value}
    return value


@pytest.mark.parametrize(
    ("properties", "reason"),
    [
        ({"log": '{"kind": "Event", "auditID": '}, RejectReason.NOT_JSON),
        ({"log": "[1, 2]"}, RejectReason.WRONG_SHAPE),
        ({"stream": "stdout"}, RejectReason.MISSING_FIELD),
        ("not an object", RejectReason.MISSING_FIELD),
        ({"log": orjson.dumps(audit(requestObject=deep(80))).decode()}, RejectReason.TOO_DEEP),
        ({"log": orjson.dumps(audit(stage="ResponseStarted")).decode()}, RejectReason.INVALID_VALUE),
    ],
)
def test_broken_aks_records_are_rejected(properties: Any, reason: RejectReason) -> None:
    assert rejection(aks(properties=properties))[0] is reason


# --- recognition and envelopes ------------------------------------------------------------------------


def test_matches_is_specific() -> None:
    assert k8s.matches(audit())
    assert k8s.matches(aks())
    assert k8s.matches(gke())
    for record in (
        {"eventVersion": "1.08", "eventSource": "eks.amazonaws.com", "eventName": "CreateCluster", "eventID": "x"},
        {"operationName": "Microsoft.Compute/virtualMachines/write", "category": "Administrative", "time": "x"},
        {"kind": "Event", "apiVersion": "v1", "involvedObject": {"kind": "Pod"}, "reason": "BackOff"},
        {"insertId": "x", "protoPayload": {"serviceName": "compute.googleapis.com", "methodName": "v1.x.insert"}},
    ):
        assert not k8s.matches(record)


@pytest.mark.parametrize("record", [audit(), gke(), aks()])
def test_auto_detection_picks_k8s(record: dict[str, Any]) -> None:
    parser = detect(record)
    assert parser is not None
    assert parser.NAME == "k8s"
    result = parse_document(orjson.dumps(record), CTX)
    assert [e.source for e in result.items if isinstance(e, ChangeEvent)] == [Source.K8S]


def test_event_list_and_json_lines() -> None:
    second = audit(auditID="5d7e0f3c-0009", verb="get")
    listing = parse_document(
        orjson.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [audit(), second]}), CTX
    )
    assert [e.event_id for e in listing.items if isinstance(e, ChangeEvent)] == ["5d7e0f3c-0001", "5d7e0f3c-0009"]
    assert [e.raw_ref.index for e in listing.items if isinstance(e, ChangeEvent) and e.raw_ref] == [0, 1]
    lines = b"\n".join(orjson.dumps(r) for r in (audit(), audit(stage="RequestReceived"), second))
    result = parse_document(lines, CTX, sources=("k8s",))
    assert len(result.items) == 2
    assert [r.index for r in result.rejections] == [1]


# --- junk ---------------------------------------------------------------------------------------------


@JUNK
@given(json_values())
def test_arbitrary_json_never_crashes(value: Any) -> None:
    assert_survives(value, ("k8s",), Source.K8S)


@JUNK
@given(mutated(binding(impersonatedUser={"username": "bob@example.com"}, responseObject={"metadata": {"name": "x"}})))
def test_mutated_native_event_never_crashes(record: Any) -> None:
    assert_survives(record, ("k8s",), Source.K8S)


@JUNK
@given(mutated(gke(request=binding()["requestObject"], serviceAccountDelegationInfo=[{"principalSubject": "user:a"}])))
def test_mutated_gke_entry_never_crashes(record: Any) -> None:
    assert_survives(record, ("k8s",), Source.K8S)


@JUNK
@given(mutated(aks(secret_create())))
def test_mutated_aks_record_never_crashes(record: Any) -> None:
    assert_survives(record, ("k8s",), Source.K8S)


@pytest.mark.parametrize(
    ("object_ref", "body", "replicas"),
    [
        ({"resource": "deployments", "subresource": "scale", "namespace": "shop", "name": "web"},
         {"kind": "Scale", "spec": {"replicas": 7}}, 7),
        ({"resource": "deployments", "namespace": "shop", "name": "web"}, {"spec": {"replicas": 2}}, 2),
        ({"resource": "configmaps", "namespace": "shop", "name": "web"}, {"spec": {"replicas": 2}}, None),
        ({"resource": "deployments", "namespace": "shop", "name": "web"}, {"spec": {"replicas": "2"}}, None),
    ],
)  # fmt: skip
def test_scale_changes_keep_the_requested_replica_count_and_nothing_else(
    object_ref: dict[str, Any], body: dict[str, Any], replicas: int | None
) -> None:
    event = parse_one(audit(objectRef=object_ref, requestObject=body))
    assert event.details.get("replicas") == replicas
    assert "spec" not in event.model_dump_json()
