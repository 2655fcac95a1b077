"""`opswarden evaluate`: precision, recall and time-to-detect of the online detectors on the seeded scenario."""

from __future__ import annotations

from pathlib import Path
from statistics import median

import click
from rich.console import Console
from rich.table import Table

from detectors.evaluation import evaluate
from streams.config_loader import load_config_file


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}min"
    return f"{seconds / 3600:.1f}h"


@click.command("evaluate")
@click.option("--seed", default=7, show_default=True, help="Scenario seed.")
@click.option("--size", default=1, show_default=True, type=click.IntRange(1, 50), help="Scenario scale.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), help="YAML config file.")
def evaluate_command(seed: int, size: int, config_path: str | None) -> None:
    """Replay the seeded scenario through the online detectors and score them against its ground truth."""
    config = load_config_file(Path(config_path) if config_path else None)
    result = evaluate(seed=seed, size=size, config=config)
    console = Console(width=max(Console().width, 110))
    table = Table(title=f"online detectors, seed {seed}, size {size}: {result.items} items")
    for column in ("finding type", "labels", "findings", "duplicates", "precision", "recall", "median TTD", "max TTD"):
        table.add_column(column, justify="left" if column == "finding type" else "right", no_wrap=True)
    for score in result.scores.values():
        detect = score.detect_seconds
        table.add_row(
            score.finding_type,
            str(score.labels),
            str(score.findings),
            str(score.duplicates),
            f"{score.precision:.3f}",
            f"{score.recall:.3f}",
            _duration(median(detect) if detect else None),
            _duration(max(detect) if detect else None),
        )
    console.print(table)
    loops = Table(title=f"loops: occurrence the finding came on (kind agreement {result.loop_kind_agreement:.2f})")
    for column in ("loop kind", "episodes", "median", "worst"):
        loops.add_column(column, justify="left" if column == "loop kind" else "right")
    for kind, indexes in sorted(result.loop_detected_at.items()):
        loops.add_row(kind, str(len(indexes)), f"{median(indexes):g}", str(max(indexes)))
    console.print(loops)
    sizes = Table(title="encoded state per tracked key (bytes)")
    for column in ("detector", "keys", "mean", "p99", "max"):
        sizes.add_column(column, justify="left" if column == "detector" else "right")
    for name, figures in result.state_bytes.items():
        sizes.add_row(name, *(f"{figures[k]:g}" for k in ("keys", "mean", "p99", "max")))
    console.print(sizes)
    console.print(
        f"approved expansion rated {', '.join(result.approved_severity) or '-'}; "
        f"unapproved creep rated {', '.join(result.unapproved_creep_severity) or '-'}"
    )
    for score in result.scores.values():
        for line in score.missed:
            console.print(f"[red]missed[/red] {score.finding_type}: {line}")
        for line in score.false_positives:
            console.print(f"[yellow]false positive[/yellow] {score.finding_type}: {line}")
