"""A production change as the judge holds it through its grace period, and the view judging reads it through.

The judge holds every production change for `authorization.grace` (15 minutes of its sources' event time). As
pydantic models they took ~4.5 KB and 12 objects each, which every garbage collection walked: a worker stopped
for tens of milliseconds at a time, and for a second or more once a long grace had them by the hundred thousand.
A held change is instead a flat tuple of immutable values, which the collector stops tracking once it has seen
its resources' tuple untracked (at its second look, so held changes never reach the oldest generation):

- its event time and id, the judging order;
- the JSON it arrived as, which state writes store as it is and from which a finding's change is decoded;
- the facts judging reads: what an authorization record and the registry match, what the ledger entry shows,
  and what the automation checks look at.

Most changes are authorized and raise no finding: their verdict and ledger entry come from the facts alone,
through `HeldView`. Decoding every judged change again instead cost ~50,000 instructions, a fifth of the engine
stage; only a change that gets a finding is decoded now (`HeldView.model`).

>>> from datetime import UTC, datetime
>>> from models.events import ChangeEvent, Principal, Source
>>> change = ChangeEvent(event_id="e1", source=Source.CLOUDTRAIL, event_time=datetime(2026, 3, 2, tzinfo=UTC),
...                      principal=Principal(uid="arn:aws:iam::1:user/ana"), action="ec2:RunInstances")
>>> view = HeldView(held_change(change))
>>> view.principal.identities(), view.action
(('arn:aws:iam::1:user/ana',), 'ec2:RunInstances')
>>> view.model() == change
True
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from models.events import ChangeEvent, CredentialKind, PrincipalKind, change_from_json, compact_json, identities_of

#: A change kept for later: event time and id (the judging order), its JSON; then what judging reads: action,
#: resources, environment; the principal's uid, issuer, kind, human and name; its credential's id, kind and
#: lifetime (kind `None`: no credential). Flat, as each tuple inside a tuple costs the collector one more look
#: before it stops tracking the outer one. Kinds are held as their text: an enum member is an object the collector
#: tracks, and a tuple holding one stays tracked.
HeldChange = tuple[
    datetime, str, bytes,
    str, tuple[str, ...], str,
    str, str | None, str, str | None, str | None,
    str | None, str | None, float | None,
]  # fmt: skip

_PRINCIPAL_KINDS = {kind.value: kind for kind in PrincipalKind}
_CREDENTIAL_KINDS = {kind.value: kind for kind in CredentialKind}
#: A kind's text by its member: a look-up costs a tenth of `.value`, a property of `Enum` (~200 ns).
_KIND_TEXT: dict[PrincipalKind | CredentialKind, str] = {kind: kind.value for kind in (*PrincipalKind, *CredentialKind)}


class JudgedCredential(Protocol):
    @property
    def id(self) -> str | None: ...
    @property
    def kind(self) -> CredentialKind: ...
    @property
    def lifetime_seconds(self) -> float | None: ...


class JudgedPrincipal(Protocol):
    @property
    def uid(self) -> str: ...
    @property
    def kind(self) -> PrincipalKind: ...
    @property
    def name(self) -> str | None: ...
    @property
    def human(self) -> str | None: ...
    @property
    def credential(self) -> JudgedCredential | None: ...
    def identities(self) -> tuple[str, ...]: ...


class JudgedChange(Protocol):
    """What the verdict, the ledger entry and the automation checks read of a change: a `ChangeEvent` or a
    `HeldView` of one."""

    @property
    def event_id(self) -> str: ...
    @property
    def event_time(self) -> datetime: ...
    @property
    def action(self) -> str: ...
    @property
    def resources(self) -> tuple[str, ...]: ...
    @property
    def environment(self) -> str: ...
    @property
    def principal(self) -> JudgedPrincipal: ...


def held_change(change: ChangeEvent, received_json: bytes | None = None) -> HeldChange:
    """A change as the judge keeps it, with the JSON it arrived as when the driver has that: a worker's state
    then writes the bytes it read rather than encoding the change again."""
    principal = change.principal
    credential = principal.credential
    return (
        change.event_time, change.event_id, received_json or compact_json(change),
        change.action, change.resources, change.environment,
        principal.uid, principal.issuer, _KIND_TEXT[principal.kind], principal.human, principal.name,
        None if credential is None else credential.id,
        None if credential is None else _KIND_TEXT[credential.kind],
        None if credential is None else credential.lifetime_seconds,
    )  # fmt: skip


class HeldCredential:
    __slots__ = ("id", "kind", "lifetime_seconds")

    def __init__(self, id: str | None, kind: CredentialKind, lifetime_seconds: float | None) -> None:
        self.id = id
        self.kind = kind
        self.lifetime_seconds = lifetime_seconds


class HeldPrincipal:
    __slots__ = ("credential", "human", "issuer", "kind", "name", "uid")

    def __init__(
        self,
        uid: str,
        issuer: str | None,
        kind: PrincipalKind,
        human: str | None,
        name: str | None,
        credential: HeldCredential | None,
    ) -> None:
        self.uid = uid
        self.issuer = issuer
        self.kind = kind
        self.human = human
        self.name = name
        self.credential = credential

    def identities(self) -> tuple[str, ...]:
        return identities_of(self.uid, self.issuer)


class HeldView:
    """A held change read as judging reads it, built when it is judged and dropped after; `model` decodes the
    change itself, once, for a finding."""

    __slots__ = ("_model", "action", "environment", "event_id", "event_time", "json", "principal", "resources")

    def __init__(self, held: HeldChange) -> None:
        (self.event_time, self.event_id, self.json, self.action, self.resources, self.environment,
         uid, issuer, kind, human, name, credential_id, credential_kind, lifetime) = held  # fmt: skip
        credential = (
            None
            if credential_kind is None
            else HeldCredential(credential_id, _CREDENTIAL_KINDS[credential_kind], lifetime)
        )
        self.principal = HeldPrincipal(uid, issuer, _PRINCIPAL_KINDS[kind], human, name, credential)
        self._model: ChangeEvent | None = None

    def model(self) -> ChangeEvent:
        if self._model is None:
            self._model = change_from_json(self.json)
        return self._model
