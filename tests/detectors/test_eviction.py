"""When the engine forgets keys: idle ones within a hundredth of `idle_after`, those over the cap (down to nine
tenths of it) at most each minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from detectors.base import Detector, EvictionPolicy, KeyKind, Outputs
from detectors.context import DetectionContext
from detectors.engine import Engine
from models.config import OpswardenConfig
from models.events import ActionEvent, ActionPhase
from models.parsers.base import Parsed

T0 = datetime(2026, 3, 2, tzinfo=UTC)


class LastSeenDetector(Detector[dict[str, datetime]]):
    """Remembers when each target was last touched, and counts how often a sweep asks."""

    name = "last-seen"
    key_kind = KeyKind.TARGET

    def __init__(self, config: OpswardenConfig, max_keys: int) -> None:
        super().__init__(config)
        self.eviction = EvictionPolicy(max_keys=max_keys, idle_after=timedelta(days=1))
        self.asked = 0

    def keys(self, item: Parsed) -> list[str]:
        return [item.target] if isinstance(item, ActionEvent) else []

    def new_state(self) -> dict[str, datetime]:
        return {}

    def on_item(self, key: str, state: dict[str, datetime], item: Parsed, ctx: DetectionContext) -> Outputs:
        assert isinstance(item, ActionEvent)
        state["at"] = item.time
        return Outputs()

    def last_seen(self, state: dict[str, datetime]) -> datetime | None:
        self.asked += 1
        return state["at"]

    def encode_state(self, state: dict[str, datetime]) -> bytes:
        return state["at"].isoformat().encode()

    def decode_state(self, data: bytes) -> dict[str, datetime]:
        return {"at": datetime.fromisoformat(data.decode())}


def touch(engine: Engine, target: str, at: datetime) -> None:
    action = {"workflow": "w", "run_id": "r", "phase": ActionPhase.STARTED, "action": "restart"}
    engine.process(ActionEvent(id=f"{target}@{at}", time=at, target=target, **action))


def test_idle_keys_go_within_a_hundredth_of_idle_after_without_reading_states_every_minute() -> None:
    config = OpswardenConfig()
    detector = LastSeenDetector(config, max_keys=1000)
    engine = Engine(config, [detector])
    touch(engine, "old", T0)
    minutes = 24 * 60 + 30
    for minute in range(1, minutes):  # another target busy every minute, for a day and a half hour
        touch(engine, "busy", T0 + config.allowed_lateness + timedelta(minutes=minute))
    assert "old" not in engine.stores[detector.name]  # idle for a day: gone by the sweep after
    assert engine.evictions[detector.name] == 1
    # two keys a sweep, a sweep every 14.4 minutes of event time, not every minute
    assert detector.asked <= 2 * (minutes // 14 + 1)


def test_a_store_over_its_cap_is_trimmed_at_the_next_minute() -> None:
    config = OpswardenConfig()
    detector = LastSeenDetector(config, max_keys=3)
    engine = Engine(config, [detector])
    for i in range(10):
        touch(engine, f"t{i}", T0 + timedelta(seconds=61 * i))
        assert len(engine.stores[detector.name]) <= 3 + 1  # one may arrive between sweeps
    assert set(engine.stores[detector.name]) >= {"t9"}  # the least recently seen went first
    assert engine.evictions[detector.name] >= 6


def test_a_store_that_went_over_its_cap_between_sweeps_is_trimmed_when_the_next_is_due() -> None:
    config = OpswardenConfig()
    detector = LastSeenDetector(config, max_keys=3)
    engine = Engine(config, [detector])
    start = T0 + config.allowed_lateness
    touch(engine, "t0", start)  # the first sweep: nothing to trim
    for i in range(1, 6):  # five more keys within the minute: over the cap, but no sweep is due yet
        touch(engine, f"t{i}", start + timedelta(seconds=i))
    assert len(engine.stores[detector.name]) == 6
    touch(engine, "t5", start + timedelta(minutes=2))  # no new key, but the minute has passed
    assert len(engine.stores[detector.name]) == 3
    assert engine.evictions[detector.name] == 3


def test_a_store_over_its_cap_goes_down_to_nine_tenths_and_new_keys_under_the_cap_bring_no_sweep() -> None:
    config = OpswardenConfig()
    detector = LastSeenDetector(config, max_keys=100)
    engine = Engine(config, [detector])
    start = T0 + config.allowed_lateness
    for i in range(150):  # within the first minute: over the cap, no sweep due yet
        touch(engine, f"t{i:03d}", start + timedelta(seconds=i * 0.2))
    touch(engine, "t149", start + timedelta(minutes=2))  # the sweep: the least recently seen go
    store = engine.stores[detector.name]
    assert sorted(store) == [f"t{i:03d}" for i in range(60, 150)]
    asked = detector.asked
    for minute in range(3, 8):  # a new key a minute: under the cap, so no state is read
        touch(engine, f"n{minute}", start + timedelta(minutes=minute))
    assert len(store) == 95
    assert detector.asked == asked
