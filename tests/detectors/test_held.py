"""Held changes: what the judge keeps through the grace period, and the view it judges them through."""

from __future__ import annotations

import doctest
import gc
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from detectors import held
from detectors.held import HeldView, held_change
from models.events import ChangeEvent, Credential, CredentialKind, Principal, PrincipalKind
from tests.detectors.builders import CAROL, ROLE, at, change

names = st.one_of(st.none(), st.sampled_from(["carol", "carol@example.com", ROLE, CAROL, ""]))
credentials = st.one_of(
    st.none(),
    st.builds(
        Credential,
        id=st.one_of(st.none(), st.sampled_from(["AKIAEXAMPLE", "ASIAEXAMPLE"])),
        kind=st.sampled_from(CredentialKind),
        issued_at=st.one_of(st.none(), st.just(at(-60))),
        expires_at=st.one_of(st.none(), st.integers(0, 10**6).map(lambda s: at(-60) + timedelta(seconds=s))),
    ),
)
principals = st.builds(
    Principal,
    uid=st.sampled_from([CAROL, f"{ROLE}-session", "system:serviceaccount:ops:bot"]),
    kind=st.sampled_from(PrincipalKind),
    issuer=names,
    human=names,
    name=names,
    credential=credentials,
)
changes = st.builds(
    lambda who, resources, environment: change("e1", 3.5, who=who, resources=resources, environment=environment),
    principals,
    st.lists(st.sampled_from(["arn:aws:ec2:eu-west-1:1:sg/sg-1", "k8s://prod/deployments/api"]), max_size=3).map(tuple),
    st.sampled_from(["production", "staging"]),
)


def test_module_examples() -> None:
    assert doctest.testmod(held).failed == 0


@given(changes)
def test_a_held_view_reads_as_the_change_it_holds(change: ChangeEvent) -> None:
    view = HeldView(held_change(change))
    assert (view.event_id, view.event_time, view.action, view.resources, view.environment) == (
        change.event_id, change.event_time, change.action, change.resources, change.environment
    )  # fmt: skip
    seen, real = view.principal, change.principal
    assert (seen.uid, seen.kind, seen.name, seen.human, seen.identities()) == (
        real.uid, real.kind, real.name, real.human, real.identities()
    )  # fmt: skip
    assert seen.kind is real.kind
    if real.credential is None:
        assert seen.credential is None
    else:
        assert seen.credential is not None
        assert (seen.credential.id, seen.credential.kind, seen.credential.lifetime_seconds) == (
            real.credential.id, real.credential.kind, real.credential.lifetime_seconds
        )  # fmt: skip
    assert view.model() == change


def test_a_held_change_with_a_credential_is_not_scanned_by_the_garbage_collector_after_two_looks() -> None:
    """It holds immutable values only (kinds as text, not enum members), its resources in a tuple inside it. A
    collection finds the inner tuple after the outer one, so it stops tracking the outer at its next look."""
    credential = Credential(id="ASIAEXAMPLE", kind=CredentialKind.SHORT_LIVED, issued_at=at(0), expires_at=at(60))
    who = Principal(uid=f"{ROLE}-session", kind=PrincipalKind.MACHINE, issuer=ROLE, credential=credential)
    kept = [held_change(change(f"e{number}", number, who=who)) for number in range(3)]
    gc.collect()
    gc.collect()
    assert not any(gc.is_tracked(one) for one in kept)


def test_the_view_decodes_the_change_once() -> None:
    view = HeldView(held_change(change("e1", 0)))
    assert view.model() is view.model()
