"""Every Kubernetes audit sample in Panther's kubernetes_rules, aws_eks_rules and gcp_k8s_rules parses or
is rejected with a reason, and reaches the parser its shape says (native/EKS and AKS and GKE → k8s).

Panther's Kubernetes rule tests are mostly fragments written for one rule (no auditID, no timestamps),
so most of them are rejected as partial; the counts below were checked case by case.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from models.events import ChangeEvent, CredentialKind, Outcome, PrincipalKind, Source
from models.parsers import parse_document
from models.parsers.base import ParseContext
from models.rejection import RejectReason
from tests.conformance.outcomes import Outcomes, folder_outcomes, tally
from tests.samples import PantherCase, panther_cases

FOLDERS = ("kubernetes_rules", "aws_eks_rules", "gcp_k8s_rules")
#: Which parsers a Panther LogType may legitimately reach (GCP.AuditLog holds GKE and plain GCP entries).
LOG_TYPE_SOURCES = {
    "Amazon.EKS.Audit": {"k8s"},
    "GCP.AuditLog": {"k8s", "gcp"},
    "Azure.MonitorActivity": {"k8s", "azure"},
}


def expected_source(log: Any) -> str | None:
    """Which parser a record belongs to, from its shape alone (independent of the parsers' own checks)."""
    if not isinstance(log, dict):
        return None
    proto = next((v for k, v in log.items() if k.lower() == "protopayload"), None)
    if isinstance(proto, dict):
        gke = proto.get("serviceName") == "k8s.io" or str(proto.get("methodName", "")).startswith("io.k8s.")
        return "k8s" if gke else "gcp"
    if log.get("category") in ("kube-audit", "kube-audit-admin"):
        return "k8s"
    if "operationName" in log:
        return "azure"
    if log.get("kind") == "Event" or str(log.get("apiVersion", "")).startswith("audit.k8s.io/") or "auditID" in log:
        return "k8s"
    if isinstance(log.get("operation"), dict) and log["operation"].get("producer") == "k8s.io":
        return "k8s"
    return None


@pytest.fixture(scope="module")
def outcomes() -> dict[str, dict[tuple[str, str], Outcomes]]:
    return {folder: folder_outcomes(folder) for folder in FOLDERS}


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_case_parses_or_is_rejected_with_a_reason(
    outcomes: dict[str, dict[tuple[str, str], Outcomes]], folder: str
) -> None:
    for key, outcome in outcomes[folder].items():
        assert len(outcome.events) + len(outcome.rejections) == 1, key
        assert all(r.reason is not RejectReason.PROCESSING_ERROR for r in outcome.rejections), key
        assert all(r.detail for r in outcome.rejections), key


@pytest.mark.parametrize("folder", FOLDERS)
def test_detected_source_matches_shape_and_log_type(
    outcomes: dict[str, dict[tuple[str, str], Outcomes]], folder: str
) -> None:
    for key, outcome in outcomes[folder].items():
        expected = expected_source(outcome.case.log)
        assert outcome.detected == expected, key
        allowed = set().union(*(LOG_TYPE_SOURCES[t] for t in outcome.case.log_types if t in LOG_TYPE_SOURCES))
        assert expected is None or expected in allowed, key
        assert all(e.source.value == expected for e in outcome.events), key


MISSING, INVALID = RejectReason.MISSING_FIELD.value, RejectReason.INVALID_VALUE.value


def test_counts(outcomes: dict[str, dict[tuple[str, str], Outcomes]]) -> None:
    # kubernetes_rules: 237 fragments; 232 lack auditID, verb or a timestamp, one AKS exec is the
    # ResponseStarted stage, one GCP entry lacks insertId, one Azure entry lacks time; 2 GKE entries parse.
    assert tally(outcomes["kubernetes_rules"]) == {
        ("k8s", "parsed"): 2,
        ("k8s", MISSING): 232,
        ("k8s", INVALID): 1,
        ("gcp", MISSING): 1,
        ("azure", MISSING): 1,
    }
    # aws_eks_rules: real EKS events; 3 are ResponseStarted stages, 6 lack auditID or verb.
    assert tally(outcomes["aws_eks_rules"]) == {("k8s", "parsed"): 11, ("k8s", MISSING): 6, ("k8s", INVALID): 3}
    # gcp_k8s_rules: 3 GKE service creations parse; trimmed entries lack timestamp/insertId/protoPayload;
    # `{"operation": {"producer": "chrome"}}` is nobody's.
    assert tally(outcomes["gcp_k8s_rules"]) == {
        ("k8s", "parsed"): 3,
        ("k8s", MISSING): 5,
        ("gcp", MISSING): 3,
        (None, RejectReason.UNKNOWN_SOURCE.value): 1,
    }


def one(folder: dict[tuple[str, str], Outcomes], file: str, name: str) -> ChangeEvent:
    outcome = folder[(file, name)]
    assert outcome.rejections == []
    return outcome.events[0]


def test_eks_semantics(outcomes: dict[str, dict[tuple[str, str], Outcomes]]) -> None:
    eks = outcomes["aws_eks_rules"]
    scanner = one(eks, "anonymous_api_access.yml", "Anonymous API Access Web Scanner Denied")
    assert scanner.action == "k8s:get:/vendor/phpunit/src/Util/PHP/eval-stdin.php"
    assert (scanner.outcome, scanner.error_code, scanner.is_change) == (Outcome.DENIED, "Forbidden", False)
    assert scanner.principal.kind is PrincipalKind.UNKNOWN
    addon = one(eks, "system_namespace_public_ip.yml", "eks:addon-manager from public ip as lambda")
    assert addon.action == "k8s:get:deployments"
    assert addon.resources == ("k8s:default/kube-system/deployments/coredns",)
    assert addon.principal.kind is PrincipalKind.SERVICE
    assert addon.principal.issuer == (
        "arn:aws:iam::123412341234:role/AWSWesleyClusterManagerLambda-Add-AddonManagerRole-G332QAM69HWF"
    )
    assert addon.principal.credential is not None
    assert addon.principal.credential.kind is CredentialKind.SHORT_LIVED
    assert addon.event_id == "43410f6e-9c19-482b-b2c7-f2cde260b0e9"
    token = one(eks, "system_namespace_public_ip.yml", "legitimate EKS node from AWS IP - should not alert")
    assert token.action == "k8s:create:serviceaccounts/token"
    assert (token.principal.kind, token.outcome, token.is_change) == (PrincipalKind.SERVICE, Outcome.SUCCESS, False)
    watch = one(eks, "source_ip_multiple_403.yml", "403 and Public IP")
    assert (watch.action, watch.outcome, watch.principal.kind) == (
        "k8s:watch:endpointslices",
        Outcome.DENIED,
        PrincipalKind.MACHINE,
    )
    assert watch.resources == ("k8s:default/_/endpointslices",)
    started = eks[("source_ip_multiple_403.yml", "Not 403")]
    assert [r.reason for r in started.rejections] == [RejectReason.INVALID_VALUE]
    assert "ResponseStarted" in started.rejections[0].detail


def test_gke_semantics(outcomes: dict[str, dict[tuple[str, str], Outcomes]]) -> None:
    folder = outcomes["gcp_k8s_rules"]
    created = one(folder, "gcp_k8s_service_type_node_port_deployed.yml", "Service Created")
    assert created.source is Source.K8S
    assert created.action == "k8s:create:services"
    assert created.resources == ("k8s:some-project-cluster/default/services/test-ns",)
    assert (created.principal.uid, created.principal.kind) == ("some.user@company.com", PrincipalKind.HUMAN)
    assert created.is_change is True
    assert created.event_id.startswith("gke-")
    failed = one(folder, "gcp_k8s_service_type_node_port_deployed.yml", "Error Creating Service")
    assert (failed.outcome, failed.error_code, failed.is_change) == (Outcome.FAILED, "ABORTED", False)
    denied = one(folder, "gcp_k8s_service_type_node_port_deployed.yml", "No Permission Granted")
    assert (denied.outcome, denied.is_change) == (Outcome.DENIED, False)
    privileged = one(outcomes["kubernetes_rules"], "k8s_privileged_pod_created.yml", "GCP GKE Privileged Pod Created")
    assert privileged.action == "k8s:create:pods"
    assert privileged.resources == ("k8s:gke-cluster/default/pods/test-privileged-pod",)


def test_aks_stage_rejection(outcomes: dict[str, dict[tuple[str, str], Outcomes]]) -> None:
    started = outcomes["kubernetes_rules"][("k8s_exec_into_pod.yml", "AKS Exec Into Pod (realistic)")]
    assert started.detected == "k8s"
    assert [r.reason for r in started.rejections] == [RejectReason.INVALID_VALUE]
    assert "ResponseStarted" in started.rejections[0].detail


def completed(case: PantherCase) -> dict[str, Any]:
    """A trimmed Panther case with the auditID and timestamp it lacks, to check what it would yield."""
    log = dict(case.log)
    if "properties" in log:
        inner = orjson.loads(log["properties"]["log"])
        inner |= {"auditID": "completed-1", "requestReceivedTimestamp": "2024-05-01T12:00:00Z"}
        log["properties"] = {"log": orjson.dumps(inner).decode()}
    else:
        log |= {"auditID": "completed-1", "requestReceivedTimestamp": "2024-05-01T12:00:00Z"}
    return log


def test_rbac_bindings_from_trimmed_samples_give_grants() -> None:
    cases = {
        c.name: c for c in panther_cases("kubernetes_rules") if c.file.name == "k8s_clusterrolebinding_privileged.yml"
    }
    eks = parse_document(orjson.dumps(completed(cases["EKS ClusterRoleBinding to cluster-admin"])), ParseContext())
    aks = parse_document(orjson.dumps(completed(cases["AKS ClusterRoleBinding to system:masters"])), ParseContext())
    eks_event, aks_event = eks.items[0], aks.items[0]
    assert isinstance(eks_event, ChangeEvent)
    assert isinstance(aks_event, ChangeEvent)
    assert eks_event.action == aks_event.action == "k8s:create:clusterrolebindings"
    assert eks_event.resources == ("k8s:default/_/clusterrolebindings/backdoor-admin",)
    assert [(g.grantee, g.privilege) for g in eks_event.grants] == [
        ("attacker@example.com", "ClusterRole:cluster-admin")
    ]
    assert [(g.grantee, g.privilege, g.grantee_kind) for g in aks_event.grants] == [
        ("system:serviceaccount:default:malicious-sa", "ClusterRole:system:masters", PrincipalKind.MACHINE)
    ]
    assert aks_event.details["shape"] == "aks"
