"""Suppression rules: a suppressed finding is still issued, marked Suppressed with the rule that hid it."""

from __future__ import annotations

from collections import Counter

from models.config import SuppressionRule
from models.finding import DetectionFinding, Status, epoch_ms
from models.patterns import glob_match


def _subject(finding: DetectionFinding) -> tuple[str, str]:
    evidence = finding.evidences[0] if finding.evidences else None
    principal = evidence.actor.user.uid if evidence and evidence.actor else ""
    action = evidence.api.operation if evidence and evidence.api else ""
    return principal, action


def matches(rule: SuppressionRule, finding: DetectionFinding) -> bool:
    if rule.expires is not None and finding.time >= epoch_ms(rule.expires):
        return False
    principal, action = _subject(finding)
    environment = str(finding.unmapped.get("environment", ""))
    return (
        glob_match(rule.finding_type, finding.finding_type)
        and glob_match(rule.principal, principal)
        and glob_match(rule.action, action, ignore_case=True)
        and glob_match(rule.environment, environment)
        and (rule.target == "*" or any(glob_match(rule.target, r.uid) for r in finding.resources))
    )


class Suppressor:
    """Applies the first matching rule to each finding and counts what each rule hid."""

    def __init__(self, rules: tuple[SuppressionRule, ...]) -> None:
        self.rules = rules
        self.counts: Counter[str] = Counter()

    def apply(self, finding: DetectionFinding) -> DetectionFinding:
        rule = next((r for r in self.rules if matches(r, finding)), None)
        if rule is None:
            return finding
        self.counts[rule.id] += 1
        note = {"rule": rule.id, "reason": rule.reason, "owner": rule.owner, "ticket": rule.ticket}
        return finding.model_copy(
            update={
                "status_id": Status.SUPPRESSED,
                "status": "Suppressed",
                "status_detail": f"suppressed by {rule.id}: {rule.reason}",
                "is_alert": False,
                "unmapped": {**finding.unmapped, "suppression": note},
            }
        )
