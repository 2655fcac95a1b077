"""CloudTrail parser: identities, times, actions, outcomes, grants, redaction, envelopes and junk input."""

from __future__ import annotations

import copy
import gzip
import urllib.parse
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.config import EnvironmentConfig, EnvironmentSelectors
from models.events import ChangeEvent, CredentialKind, Grant, Outcome, PrincipalKind
from models.parsers import cloudtrail, parse_document
from models.parsers.base import ParseContext
from models.rejection import ParseError, RejectReason
from tests.models.parsing import single_event, single_rejection

ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/remediator"
SESSION_ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role/remediator/aiops-run-42"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # 40 characters, shaped like a secret access key

ASSUMED_ROLE: dict[str, Any] = {
    "type": "AssumedRole",
    "principalId": "AROAEXAMPLE:aiops-run-42",
    "arn": SESSION_ARN,
    "accountId": ACCOUNT,
    "accessKeyId": "ASIAEXAMPLEKEY000001",
    "sessionContext": {
        "sessionIssuer": {"type": "Role", "arn": ROLE_ARN, "accountId": ACCOUNT, "userName": "remediator"},
        "attributes": {"creationDate": "2024-05-01T09:55:00Z", "mfaAuthenticated": "false"},
    },
}
IAM_USER: dict[str, Any] = {
    "type": "IAMUser",
    "principalId": "AIDAEXAMPLE",
    "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
    "accountId": ACCOUNT,
    "accessKeyId": "AKIAEXAMPLEKEY000001",
    "userName": "alice",
}


def record(**overrides: Any) -> dict[str, Any]:
    """A successful AttachRolePolicy by an automation role session; keyword arguments replace fields."""
    base: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": copy.deepcopy(ASSUMED_ROLE),
        "eventTime": "2024-05-01T10:00:00Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": "AttachRolePolicy",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "10.1.2.3",
        "userAgent": "Boto3/1.34.0",
        "requestParameters": {
            "roleName": "app-role",
            "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess",
        },
        "responseElements": None,
        "requestID": "req-1",
        "eventID": "ev-1",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }
    for key, value in overrides.items():
        if value is _DROP:
            base.pop(key, None)
        else:
            base[key] = value
    return base


_DROP = object()


def parse_one(rec: Any, ctx: ParseContext | None = None) -> ChangeEvent:
    return single_event(rec, "cloudtrail", ctx or ParseContext())


def reject_one(rec: Any) -> RejectReason:
    return single_rejection(rec, "cloudtrail", ParseContext()).reason


# -- the whole event -------------------------------------------------------------------------------


def test_attach_role_policy_by_automation_session() -> None:
    received = datetime(2024, 5, 1, 10, 0, 5, tzinfo=UTC)
    event = parse_one(record(), ParseContext(received_time=received, origin="topic-a", index=None))
    assert event.event_id == "ev-1"
    assert event.action == "iam:AttachRolePolicy"
    assert event.event_time == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert event.received_time == received
    assert event.is_change is True
    assert event.outcome is Outcome.SUCCESS
    assert event.error_code is None
    assert event.scope.account == ACCOUNT
    assert event.scope.region == "us-east-1"
    assert event.environment == "production"
    assert event.source_ip == "10.1.2.3"
    assert event.user_agent == "Boto3/1.34.0"
    assert event.raw_ref is not None
    assert event.raw_ref.origin == "topic-a"
    assert event.raw_ref.index == 0
    assert event.resources == (
        f"arn:aws:iam::{ACCOUNT}:role/app-role",
        "arn:aws:iam::aws:policy/AdministratorAccess",
    )
    admin = "arn:aws:iam::aws:policy/AdministratorAccess"
    assert event.grants == (Grant(grantee=f"arn:aws:iam::{ACCOUNT}:role/app-role", privilege=admin),)
    assert event.details["eventSource"] == "iam.amazonaws.com"
    assert event.details["eventName"] == "AttachRolePolicy"
    assert event.details["readOnly"] is False
    assert event.details["requestParameters"]["roleName"] == "app-role"
    assert "responseElements" not in event.details


def test_environment_resolved_from_account() -> None:
    environments = EnvironmentConfig(environments={"staging": EnvironmentSelectors(accounts=("1234*",))})
    assert parse_one(record(), ParseContext(environments=environments)).environment == "staging"
    other = record(recipientAccountId="999999999999")
    other["userIdentity"]["accountId"] = "999999999999"
    assert parse_one(other, ParseContext(environments=environments)).environment == "production"


def test_account_falls_back_to_user_identity() -> None:
    event = parse_one(record(recipientAccountId=_DROP))
    assert event.scope.account == ACCOUNT


# -- identities ------------------------------------------------------------------------------------


def test_assumed_role_session_is_machine_with_issuer_and_credential() -> None:
    principal = parse_one(record()).principal
    assert principal.uid == SESSION_ARN
    assert principal.kind is PrincipalKind.MACHINE
    assert principal.issuer == ROLE_ARN
    assert principal.session_name == "aiops-run-42"
    assert principal.name == "remediator"
    assert principal.human is None
    assert principal.identities() == (SESSION_ARN, ROLE_ARN)
    assert principal.credential is not None
    assert principal.credential.id == "ASIAEXAMPLEKEY000001"
    assert principal.credential.kind is CredentialKind.SHORT_LIVED
    assert principal.credential.issued_at == datetime(2024, 5, 1, 9, 55, tzinfo=UTC)
    assert principal.credential.expires_at is None


def test_sso_session_resolves_to_its_human() -> None:
    name = "AWSReservedSSO_Admin_0123abcd"
    role = f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/{name}"
    identity = copy.deepcopy(ASSUMED_ROLE)
    identity["arn"] = f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/jane.doe"
    identity["sessionContext"]["sessionIssuer"] = {"type": "Role", "arn": role, "userName": name}
    principal = parse_one(record(userIdentity=identity)).principal
    assert principal.kind is PrincipalKind.HUMAN
    assert principal.human == "jane.doe"
    assert principal.session_name == "jane.doe"
    assert principal.issuer == role


def test_email_session_name_is_human() -> None:
    identity = copy.deepcopy(ASSUMED_ROLE)
    identity["arn"] = f"arn:aws:sts::{ACCOUNT}:assumed-role/okta-admin/jane@example.com"
    principal = parse_one(record(userIdentity=identity)).principal
    assert principal.kind is PrincipalKind.HUMAN
    assert principal.human == "jane@example.com"


def test_assumed_role_issuer_derived_without_session_context() -> None:
    identity = {"type": "AssumedRole", "arn": SESSION_ARN, "accountId": ACCOUNT, "accessKeyId": "1"}
    principal = parse_one(record(userIdentity=identity)).principal
    assert principal.issuer == f"arn:aws:iam::{ACCOUNT}:role/remediator"
    assert principal.session_name == "aiops-run-42"
    assert principal.credential is not None
    assert principal.credential.kind is CredentialKind.SHORT_LIVED


def test_iam_user_with_static_key() -> None:
    principal = parse_one(record(userIdentity=IAM_USER)).principal
    assert principal.uid == f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert principal.kind is PrincipalKind.HUMAN
    assert principal.name == "alice"
    assert principal.credential is not None
    assert principal.credential.id == "AKIAEXAMPLEKEY000001"
    assert principal.credential.kind is CredentialKind.STATIC


def test_iam_user_without_arn_gets_one_built() -> None:
    identity = {"type": "IAMUser", "userName": "bob", "accountId": ACCOUNT}
    principal = parse_one(record(userIdentity=identity)).principal
    assert principal.uid == f"arn:aws:iam::{ACCOUNT}:user/bob"
    assert principal.credential is None


def test_root() -> None:
    root = f"arn:aws:iam::{ACCOUNT}:root"
    identity = {"type": "Root", "principalId": ACCOUNT, "arn": root, "accountId": ACCOUNT}
    principal = parse_one(record(userIdentity=identity)).principal
    assert principal.uid == f"arn:aws:iam::{ACCOUNT}:root"
    assert principal.kind is PrincipalKind.HUMAN
    bare = parse_one(record(userIdentity={"type": "Root", "accountId": ACCOUNT})).principal
    assert bare.uid == f"arn:aws:iam::{ACCOUNT}:root"


BROKER = f"arn:aws:iam::{ACCOUNT}:user/broker"


def test_federated_user() -> None:
    identity = {
        "type": "FederatedUser",
        "principalId": f"{ACCOUNT}:broker-user",
        "arn": f"arn:aws:sts::{ACCOUNT}:federated-user/broker-user",
        "accountId": ACCOUNT,
        "accessKeyId": "ASIAEXAMPLEKEY000002",
        "sessionContext": {"sessionIssuer": {"type": "IAMUser", "arn": BROKER}},
    }
    principal = parse_one(record(userIdentity=identity)).principal
    assert principal.uid == f"arn:aws:sts::{ACCOUNT}:federated-user/broker-user"
    assert principal.kind is PrincipalKind.UNKNOWN
    assert principal.issuer == BROKER
    assert principal.session_name == "broker-user"
    assert principal.credential is not None
    assert principal.credential.kind is CredentialKind.SHORT_LIVED


def test_aws_service() -> None:
    identity = {"type": "AWSService", "invokedBy": "autoscaling.amazonaws.com"}
    principal = parse_one(record(userIdentity=identity)).principal
    assert principal.uid == "autoscaling.amazonaws.com"
    assert principal.kind is PrincipalKind.SERVICE
    assert principal.credential is None


def test_aws_account() -> None:
    identity = {"type": "AWSAccount", "principalId": "AROAEXAMPLE:session", "accountId": "111111111111"}
    principal = parse_one(record(userIdentity=identity)).principal
    assert principal.uid == "AROAEXAMPLE:session"
    assert principal.issuer == "arn:aws:iam::111111111111:root"
    assert principal.kind is PrincipalKind.UNKNOWN


def test_missing_user_identity_is_an_unknown_principal() -> None:
    event = parse_one(record(userIdentity=_DROP))
    assert event.principal.uid == "unknown"
    assert event.principal.kind is PrincipalKind.UNKNOWN
    assert parse_one(record(userIdentity=None)).principal.uid == "unknown"


def test_identity_type_inferred_from_arn() -> None:
    principal = parse_one(record(userIdentity={"arn": SESSION_ARN})).principal
    assert principal.kind is PrincipalKind.MACHINE
    assert principal.session_name == "aiops-run-42"


def test_other_partitions_keep_their_partition() -> None:
    identity = copy.deepcopy(IAM_USER)
    identity["arn"] = f"arn:aws-cn:iam::{ACCOUNT}:user/alice"
    event = parse_one(record(userIdentity=identity))
    assert event.resources[0] == f"arn:aws-cn:iam::{ACCOUNT}:role/app-role"


@pytest.mark.parametrize("identity", ["AssumedRole", 42, ["a"], True])
def test_user_identity_of_the_wrong_type_is_rejected(identity: Any) -> None:
    assert reject_one(record(userIdentity=identity)) is RejectReason.INVALID_VALUE


@pytest.mark.parametrize("created", ["yesterday", "9999-12-31T23:59:59-23:59", 17, ["2024-05-01"]])
def test_session_creation_date_garbage_is_ignored(created: Any) -> None:
    identity = copy.deepcopy(ASSUMED_ROLE)
    identity["sessionContext"]["attributes"]["creationDate"] = created
    credential = parse_one(record(userIdentity=identity)).principal.credential
    assert credential is not None
    assert credential.issued_at is None


# -- times -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
        ("2024-05-01T12:00:00+02:00", datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
        ("2024-05-01T05:30:00-0430", datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
        ("2024-05-01 10:00:00", datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
        ("2024-05-01 10:00:00.123", datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)),
        ("2024-05-01 10:00:00.123456789", datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2024-05-01T10:00:00.987654321Z", datetime(2024, 5, 1, 10, 0, 0, 987654, tzinfo=UTC)),
    ],
)
def test_event_time_forms(text: str, expected: datetime) -> None:
    assert parse_one(record(eventTime=text)).event_time == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (_DROP, RejectReason.MISSING_FIELD),
        (None, RejectReason.MISSING_FIELD),
        ("redacted", RejectReason.BAD_TIME),
        ("2024-13-01T10:00:00Z", RejectReason.BAD_TIME),
        ([2024, 5, 1], RejectReason.BAD_TIME),
        ({"t": 1}, RejectReason.BAD_TIME),
        (True, RejectReason.BAD_TIME),
        ("9999-12-31T23:59:59-23:59", RejectReason.BAD_TIME),
        ("0001-01-01 00:00:00.000000001+01:00", RejectReason.BAD_TIME),
    ],
)
def test_bad_event_times_are_rejected(value: Any, reason: RejectReason) -> None:
    assert reject_one(record(eventTime=value)) is reason


def test_datetime_objects_from_yaml_fixtures_are_accepted() -> None:
    naive = record()
    naive["eventTime"] = datetime(2024, 5, 1, 10, 0)
    [event] = cloudtrail.parse(naive, ParseContext())
    assert isinstance(event, ChangeEvent)
    assert event.event_time == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


# -- required fields -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("eventID", _DROP, RejectReason.MISSING_FIELD),
        ("eventID", "", RejectReason.INVALID_VALUE),
        ("eventID", {"id": 1}, RejectReason.INVALID_VALUE),
        ("eventSource", _DROP, RejectReason.MISSING_FIELD),
    ],
)
def test_missing_identifiers_are_rejected(field: str, value: Any, reason: RejectReason) -> None:
    assert reject_one(record(**{field: value})) is reason


def test_rejection_keeps_native_id() -> None:
    result = parse_document(orjson.dumps(record(eventTime="bad")), ParseContext(), sources=("cloudtrail",))
    assert result.rejections[0].native_id == "ev-1"


# -- actions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "name", "action"),
    [
        ("iam.amazonaws.com", "AttachRolePolicy", "iam:AttachRolePolicy"),
        ("lambda.amazonaws.com", "UpdateFunctionCode20150331v2", "lambda:UpdateFunctionCode"),
        ("lambda.amazonaws.com", "CreateFunction20150331", "lambda:CreateFunction"),
        ("lambda.amazonaws.com", "AddPermission20150331v2", "lambda:AddPermission"),
        ("lambda.amazonaws.com", "GetFunction20150330", "lambda:GetFunction"),
        ("cloudfront.amazonaws.com", "UpdateDistribution2020_05_31", "cloudfront:UpdateDistribution"),
        ("signin.amazonaws.com", "ConsoleLogin", "signin:ConsoleLogin"),
        ("monitoring.amazonaws.com", "PutMetricAlarm", "cloudwatch:PutMetricAlarm"),
        ("ec2.amazonaws.com", "RunInstances", "ec2:RunInstances"),
        ("models.lex.amazonaws.com", "PutBot", "lex:PutBot"),
        ("ec2.amazonaws.com", "CreateVpcEndpointV2", "ec2:CreateVpcEndpointV2"),
    ],
)
def test_canonical_action(source: str, name: str, action: str) -> None:
    assert cloudtrail.canonical_action(source, name) == action
    assert parse_one(record(eventSource=source, eventName=name)).action == action


# -- outcomes and changes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (_DROP, Outcome.SUCCESS),
        (None, Outcome.SUCCESS),
        ("AccessDenied", Outcome.DENIED),
        ("AccessDeniedException", Outcome.DENIED),
        ("VpceAccessDenied", Outcome.DENIED),
        ("UnauthorizedOperation", Outcome.DENIED),
        ("Client.UnauthorizedOperation", Outcome.DENIED),
        ("NoSuchEntity", Outcome.FAILED),
        ("Client.DryRunOperation", Outcome.FAILED),
        ("ThrottlingException", Outcome.FAILED),
    ],
)
def test_outcome_classes(code: Any, outcome: Outcome) -> None:
    event = parse_one(record(errorCode=code))
    assert event.outcome is outcome
    assert event.error_code == (None if code in (_DROP, None) else code)
    assert event.is_change is (outcome is Outcome.SUCCESS)
    if outcome is not Outcome.SUCCESS:
        assert event.grants == ()


@pytest.mark.parametrize("code", [{"code": "AccessDenied"}, ["AccessDenied"], True, 1.5])
def test_error_code_of_the_wrong_type_is_rejected(code: Any) -> None:
    assert reject_one(record(errorCode=code)) is RejectReason.INVALID_VALUE


def test_failed_console_login_without_error_code() -> None:
    rec = record(
        eventSource="signin.amazonaws.com",
        eventName="ConsoleLogin",
        userIdentity=IAM_USER,
        responseElements={"ConsoleLogin": "Failure"},
        errorMessage="Failed authentication",
    )
    event = parse_one(rec)
    assert event.outcome is Outcome.FAILED
    assert event.details["consoleLogin"] == "Failure"
    assert event.is_change is False


@pytest.mark.parametrize(
    ("source", "name", "extra", "expected"),
    [
        ("iam.amazonaws.com", "AttachRolePolicy", {}, True),
        ("iam.amazonaws.com", "AttachRolePolicy", {"errorCode": "AccessDenied"}, False),
        ("iam.amazonaws.com", "AttachRolePolicy", {"errorCode": "LimitExceeded"}, False),
        ("ec2.amazonaws.com", "DescribeInstances", {"readOnly": True}, False),
        ("signin.amazonaws.com", "ConsoleLogin", {"responseElements": {"ConsoleLogin": "Success"}}, False),
        ("sts.amazonaws.com", "AssumeRole", {"readOnly": True}, False),
        ("sts.amazonaws.com", "GetSessionToken", {}, False),
        ("lambda.amazonaws.com", "UpdateFunctionCode20150331v2", {}, True),
        ("ec2.amazonaws.com", "TerminateInstances", {}, True),
        ("ssm.amazonaws.com", "SendCommand", {}, True),
        # readOnly wins over a mutating-looking verb
        ("iam.amazonaws.com", "CreatePolicy", {"readOnly": True}, False),
        ("iam.amazonaws.com", "CreatePolicy", {"readOnly": "true"}, False),
        # data events change only when the operation does
        ("s3.amazonaws.com", "PutObject", {"managementEvent": False, "eventCategory": "Data"}, True),
        ("s3.amazonaws.com", "GetObject", {"managementEvent": False, "eventCategory": "Data"}, False),
        ("lambda.amazonaws.com", "Invoke", {"managementEvent": False, "eventCategory": "Data"}, False),
    ],
)
def test_is_change(source: str, name: str, extra: dict[str, Any], expected: bool) -> None:
    rec = record(eventSource=source, eventName=name, requestParameters=None)
    rec.pop("readOnly")
    rec.update(extra)
    assert parse_one(rec).is_change is expected


# -- resources -------------------------------------------------------------------------------------


def test_resources_array_wins() -> None:
    resources = [
        {"ARN": "arn:aws:s3:::bucket-a", "type": "AWS::S3::Bucket"},
        {"accountId": ACCOUNT, "type": "AWS::S3::Object"},
        "not-an-object",
        {"ARN": "arn:aws:s3:::bucket-a"},
    ]
    rec = record(eventSource="s3.amazonaws.com", eventName="PutBucketPolicy", resources=resources)
    event = parse_one(rec)
    assert event.resources == ("arn:aws:s3:::bucket-a",)


@pytest.mark.parametrize(
    ("source", "name", "params", "expected"),
    [
        ("ec2.amazonaws.com", "ModifyInstanceAttribute", {"instanceId": "i-0abc"},
         (f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-0abc",)),
        ("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", {"groupId": "sg-1"},
         (f"arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/sg-1",)),
        ("ec2.amazonaws.com", "TerminateInstances",
         {"instancesSet": {"items": [{"instanceId": "i-1"}, {"x": 1}, 3]}},
         (f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-1",)),
        ("s3.amazonaws.com", "PutBucketAcl", {"bucketName": "logs"}, ("arn:aws:s3:::logs",)),
        ("lambda.amazonaws.com", "UpdateFunctionCode20150331v2", {"functionName": "fn"},
         (f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:fn",)),
        ("lambda.amazonaws.com", "UpdateFunctionCode20150331v2",
         {"functionName": "arn:aws:lambda:eu-west-1:1:function:x"},
         ("arn:aws:lambda:eu-west-1:1:function:x",)),
        ("iam.amazonaws.com", "AddUserToGroup", {"userName": "bob", "groupName": "admins"},
         (f"arn:aws:iam::{ACCOUNT}:user/bob", f"arn:aws:iam::{ACCOUNT}:group/admins")),
        ("kms.amazonaws.com", "ScheduleKeyDeletion", {"keyId": "k-1", "pendingWindowInDays": 7},
         (f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k-1",)),
        ("ec2.amazonaws.com", "ModifyInstanceAttribute", {"instanceId": 12}, ()),
        ("sqs.amazonaws.com", "DeleteQueue", {"queueUrl": "https://sqs/q"}, ()),
        ("iam.amazonaws.com", "AttachRolePolicy", "not-a-dict", ()),
    ],
)  # fmt: skip
def test_resources_derived_from_request_parameters(
    source: str, name: str, params: Any, expected: tuple[str, ...]
) -> None:
    event = parse_one(record(eventSource=source, eventName=name, requestParameters=params))
    assert event.resources == expected


def test_run_instances_names_the_launched_instances() -> None:
    response = {"instancesSet": {"items": [{"instanceId": "i-new1"}, {"instanceId": "i-new2"}]}}
    params = {"instanceType": "t3.micro", "instancesSet": {"items": [{"imageId": "ami-1"}]}}
    rec = record(eventSource="ec2.amazonaws.com", eventName="RunInstances", requestParameters=params)
    rec["responseElements"] = response
    event = parse_one(rec)
    prefix = f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/"
    assert event.resources == (f"{prefix}i-new1", f"{prefix}i-new2")
    assert event.is_change is True


def test_resources_are_capped() -> None:
    resources = [{"ARN": f"arn:aws:s3:::bucket/object-{i}"} for i in range(5000)]
    rec = record(eventSource="s3.amazonaws.com", eventName="DeleteObjects", resources=resources)
    assert len(parse_one(rec).resources) == 100


def test_resources_need_the_account_to_be_derived() -> None:
    rec = record(recipientAccountId=_DROP, userIdentity=_DROP)
    assert parse_one(rec).resources == ("arn:aws:iam::aws:policy/AdministratorAccess",)


def test_resources_of_the_wrong_type_are_ignored() -> None:
    event = parse_one(record(resources={"ARN": "arn:aws:s3:::x"}))
    assert event.resources[0] == f"arn:aws:iam::{ACCOUNT}:role/app-role"


# -- grants ----------------------------------------------------------------------------------------


def _grants(name: str, params: dict[str, Any], identity: dict[str, Any] | None = None) -> tuple[Grant, ...]:
    rec = record(eventName=name, requestParameters=params)
    if identity is not None:
        rec["userIdentity"] = identity
    return parse_one(rec).grants


USER = f"arn:aws:iam::{ACCOUNT}:user/bob"
GROUP = f"arn:aws:iam::{ACCOUNT}:group/admins"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/app-role"
ADMIN_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"
STAR_POLICY = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'


def test_attach_policy_grants() -> None:
    human = PrincipalKind.HUMAN
    assert _grants("AttachUserPolicy", {"userName": "bob", "policyArn": ADMIN_POLICY}) == (
        Grant(grantee=USER, privilege=ADMIN_POLICY, grantee_kind=human),
    )
    assert _grants("AttachGroupPolicy", {"groupName": "admins", "policyArn": ADMIN_POLICY}) == (
        Grant(grantee=GROUP, privilege=ADMIN_POLICY),
    )
    assert _grants("AttachRolePolicy", {"roleName": "app-role"}) == ()
    assert _grants("AttachRolePolicy", {"policyArn": ADMIN_POLICY}) == ()


def _privileges(name: str, document: Any) -> list[str]:
    params = {"roleName": "r", "userName": "u", "groupName": "g", "policyName": "p"}
    params["policyDocument"] = document
    return [g.privilege for g in _grants(name, params)]


def test_inline_policy_grants_and_star_star() -> None:
    params = {"roleName": "app-role", "policyName": "p", "policyDocument": STAR_POLICY}
    assert _grants("PutRolePolicy", params) == (
        Grant(grantee=ROLE, privilege="inline:p"),
        Grant(grantee=ROLE, privilege="*:*"),
    )
    narrow = '{"Statement":{"Effect":"Allow","Action":["s3:GetObject"],"Resource":"*"}}'
    assert _grants("PutUserPolicy", {"userName": "bob", "policyName": "read", "policyDocument": narrow}) == (
        Grant(grantee=USER, privilege="inline:read", grantee_kind=PrincipalKind.HUMAN),
    )
    as_list = '{"Statement":[{"Effect":"Allow","Action":["*"],"Resource":["*"]}]}'
    assert _privileges("PutGroupPolicy", urllib.parse.quote(as_list)) == ["inline:p", "*:*"]
    assert _privileges("PutUserPolicy", orjson.loads(STAR_POLICY)) == ["inline:p", "*:*"]
    assert _privileges("PutRolePolicy", STAR_POLICY.replace("Allow", "Deny")) == ["inline:p"]
    for junk in ("{not json", 7, ["*"], '{"Statement": 3}', '"*"', None):
        assert _privileges("PutRolePolicy", junk) == ["inline:p"]


def test_group_membership_trust_policy_and_login_profile_grants() -> None:
    assert _grants("AddUserToGroup", {"userName": "bob", "groupName": "admins"}) == (
        Grant(grantee=USER, privilege=f"group:{GROUP}", grantee_kind=PrincipalKind.HUMAN),
    )
    assert _grants("UpdateAssumeRolePolicy", {"roleName": "app-role", "policyDocument": "{}"}) == (
        Grant(grantee=ROLE, privilege="trust_policy"),
    )
    for name in ("CreateLoginProfile", "UpdateLoginProfile"):
        assert _grants(name, {"userName": "bob", "password": "hunter2hunter2"}) == (
            Grant(grantee=USER, privilege="console_password", grantee_kind=PrincipalKind.HUMAN),
        )


def test_access_keys_for_another_user_only() -> None:
    assert _grants("CreateAccessKey", {"userName": "bob"}) == (
        Grant(grantee=USER, privilege="access_key", grantee_kind=PrincipalKind.HUMAN),
    )
    assert _grants("CreateAccessKey", {"userName": "alice"}, IAM_USER) == ()
    assert _grants("CreateAccessKey", {}, IAM_USER) == ()
    assert _grants("UpdateLoginProfile", {"userName": "alice"}, IAM_USER) == ()


def test_no_grants_for_failed_calls_or_other_services() -> None:
    assert parse_one(record(errorCode="AccessDenied")).grants == ()
    assert parse_one(record(eventSource="ec2.amazonaws.com")).grants == ()
    assert parse_one(record(eventName="DetachRolePolicy")).grants == ()


# -- redaction and details -------------------------------------------------------------------------


def test_secrets_never_reach_the_event() -> None:
    rec = record(
        eventName="CreateAccessKey",
        requestParameters={
            "userName": "bob",
            "password": "Sup3rS3cret!pass",
            "note": f"key {SECRET_KEY}",
            "nested": {"clientSecret": "opaque-client-secret"},
            "token": "tok-abcdef",
        },
        responseElements={
            "accessKey": {"accessKeyId": "AKIAEXAMPLEKEY000009", "secretAccessKey": SECRET_KEY},
            "credentials": {"sessionToken": "FwoGZXIvYXdzEXAMPLESESSIONTOKEN", "secretAccessKey": SECRET_KEY},
        },
        additionalEventData={"token": "other-secret-token"},
    )
    dumped = parse_one(rec).model_dump_json()
    for secret in (SECRET_KEY, "Sup3rS3cret!pass", "opaque-client-secret", "tok-abcdef",
                   "FwoGZXIvYXdzEXAMPLESESSIONTOKEN", "other-secret-token"):  # fmt: skip
        assert secret not in dumped
    assert "bob" in dumped


def test_details_stay_small() -> None:
    params: dict[str, Any] = {f"key{i}": "x" * 10_000 for i in range(200)}
    params["deep"] = {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}
    params["list"] = list(range(1000))
    rec = record(eventSource="ec2.amazonaws.com", eventName="CreateTags", requestParameters=params)
    event = parse_one(rec)
    assert len(orjson.dumps(event.details)) < 12_000
    assert len(event.model_dump_json()) < 16_000


def test_details_keep_useful_fields() -> None:
    rec = record(sharedEventID="shared-1", sessionCredentialFromConsole="true", vpcEndpointId="vpce-1")
    details = parse_one(rec).details
    assert details["sharedEventID"] == "shared-1"
    assert details["sessionCredentialFromConsole"] == "true"
    assert details["vpcEndpointId"] == "vpce-1"
    assert details["eventType"] == "AwsApiCall"
    assert details["userIdentityType"] == "AssumedRole"
    assert details["mfaAuthenticated"] is False


# -- recognition -----------------------------------------------------------------------------------


def test_matches_cloudtrail_only() -> None:
    assert cloudtrail.matches(record())
    assert cloudtrail.matches({"eventSource": "s3.amazonaws.com", "eventName": "GetObject"})
    assert cloudtrail.matches({"eventSource": "x", "eventName": "y", "eventTime": "2024-05-01T10:00:00Z"})
    assert not cloudtrail.matches({"eventSource": "x", "eventName": "y"})
    assert not cloudtrail.matches({"eventName": {"value": "End"}, "eventSource": "x", "eventTime": "t"})
    gcp = {"protoPayload": {"methodName": "SetIamPolicy"}, "insertId": "1", "timestamp": "2024-05-01"}
    k8s = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": "a", "verb": "create"}
    azure = {"time": "2024-05-01T10:00:00Z", "operationName": "MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE"}
    for other in (gcp, k8s, azure, {}):
        assert not cloudtrail.matches(other)


def test_lower_cased_data_lake_rows_are_read() -> None:
    rec = {key.lower(): value for key, value in record().items()}
    event = parse_one(rec)
    assert event.action == "iam:AttachRolePolicy"
    assert event.principal.uid == SESSION_ARN
    assert event.is_change is True


# -- envelopes -------------------------------------------------------------------------------------


def test_envelopes() -> None:
    first, second = record(), record(eventID="ev-2", eventName="DescribeInstances", readOnly=True)
    docs = [
        orjson.dumps({"Records": [first, second]}),
        orjson.dumps([first, second]),
        orjson.dumps(first) + b"\n" + orjson.dumps(second) + b"\n",
        gzip.compress(orjson.dumps({"Records": [first, second]})),
    ]
    for data in docs:
        result = parse_document(data, ParseContext(origin="s3://bucket/key.json.gz"))
        assert result.rejections == []
        assert [e.event_id for e in result.items if isinstance(e, ChangeEvent)] == ["ev-1", "ev-2"]
        assert [e.raw_ref.index for e in result.items if isinstance(e, ChangeEvent) and e.raw_ref] == [0, 1]


def test_one_bad_record_does_not_lose_the_others() -> None:
    data = orjson.dumps({"Records": [record(), record(eventID=_DROP), "junk", record(eventID="ev-3")]})
    result = parse_document(data, ParseContext(), sources=("cloudtrail",))
    assert [e.event_id for e in result.items if isinstance(e, ChangeEvent)] == ["ev-1", "ev-3"]
    assert [(r.reason, r.index) for r in result.rejections] == [
        (RejectReason.MISSING_FIELD, 1),
        (RejectReason.WRONG_SHAPE, 2),
    ]


def test_parse_raises_parse_error_only() -> None:
    with pytest.raises(ParseError):
        cloudtrail.parse(record(eventTime="nope"), ParseContext())


# -- junk ------------------------------------------------------------------------------------------

_i64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=30)
_times = st.sampled_from(["2024-05-01T10:00:00Z", "9999-12-31T23:59:59-23:59", "0001-01-01 00:00:00+01:00"])
_floats = st.floats(allow_nan=False, allow_infinity=False)
_scalars = st.none() | st.booleans() | _i64 | _floats | _text | _times


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4)


_json = st.recursive(_scalars, _containers, max_leaves=10)
_FIELD_PATHS: tuple[tuple[str, ...], ...] = (
    ("eventID",), ("eventTime",), ("eventSource",), ("eventName",), ("userIdentity",), ("awsRegion",),
    ("recipientAccountId",), ("errorCode",), ("readOnly",), ("resources",), ("requestParameters",),
    ("responseElements",), ("sourceIPAddress",), ("userAgent",), ("managementEvent",), ("errorMessage",),
    ("userIdentity", "type"), ("userIdentity", "arn"), ("userIdentity", "accessKeyId"),
    ("userIdentity", "accountId"), ("userIdentity", "principalId"), ("userIdentity", "sessionContext"),
    ("userIdentity", "sessionContext", "sessionIssuer"), ("userIdentity", "sessionContext", "attributes"),
    ("userIdentity", "sessionContext", "attributes", "creationDate"), ("requestParameters", "roleName"),
    ("requestParameters", "policyArn"), ("requestParameters", "policyDocument"),
)  # fmt: skip
_GRANT_NAMES = (
    "AttachRolePolicy", "PutUserPolicy", "AddUserToGroup", "CreateAccessKey", "UpdateAssumeRolePolicy",
    "UpdateLoginProfile", "RunInstances", "ConsoleLogin",
)  # fmt: skip


def _check(result_items: int, rejections: list[Any], records: int | None = None) -> None:
    for rejection in rejections:
        assert rejection.reason is not RejectReason.PROCESSING_ERROR, rejection.detail
        assert rejection.detail
    if records is not None:
        assert result_items + len(rejections) == records


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_json)
def test_arbitrary_json_never_raises(value: Any) -> None:
    result = parse_document(orjson.dumps(value), ParseContext(), sources=("cloudtrail",))
    _check(len(result.items), result.rejections)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_FIELD_PATHS), _json, st.sampled_from(_GRANT_NAMES))
def test_type_swapped_fields_give_events_or_reasons(path: tuple[str, ...], value: Any, name: str) -> None:
    rec = record(eventName=name)
    target: Any = rec
    for key in path[:-1]:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    target[path[-1]] = value
    result = parse_document(orjson.dumps({"Records": [rec]}), ParseContext(), sources=("cloudtrail",))
    _check(len(result.items), result.rejections, records=1)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.sets(st.sampled_from(sorted(record())), max_size=10), st.integers(min_value=0, max_value=2000))
def test_truncated_records_give_events_or_reasons(dropped: set[str], cut: int) -> None:
    rec = {k: v for k, v in record(userIdentity=IAM_USER).items() if k not in dropped}
    result = parse_document(orjson.dumps(rec), ParseContext(), sources=("cloudtrail",))
    _check(len(result.items), result.rejections, records=1)
    data = orjson.dumps({"Records": [rec, rec]})
    truncated = parse_document(data[:cut], ParseContext(), sources=("cloudtrail",))
    _check(len(truncated.items), truncated.rejections)
    assert truncated.items or truncated.rejections


@pytest.mark.parametrize(
    "template", sorted({t for rows in cloudtrail._PARAM_ARNS.values() for _, t in rows} | {cloudtrail._EC2_INSTANCE})
)
@pytest.mark.parametrize(("account", "region"), [("111122223333", "eu-west-1"), (None, "eu-west-1"), ("1", None)])
def test_derived_arns_are_their_template_filled_in(template: str, account: str | None, region: str | None) -> None:
    """The ARN builder remembers each template's part before the value; it must give what filling it in gives."""
    needs = ("{a}" in template and not account) or ("{r}" in template and not region)
    expected = None if needs else template.format(p="aws-cn", a=account or "", r=region or "", v="res-1")
    assert cloudtrail._arn(template, "res-1", "aws-cn", account, region) == expected
    assert cloudtrail._arn(template, "arn:aws:s3:::b", "aws-cn", account, region) == "arn:aws:s3:::b"
