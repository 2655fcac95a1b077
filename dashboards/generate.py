"""Grafana dashboards for opswarden, built with grafana-foundation-sdk and written as provisioned JSON.

Run `python -m dashboards.generate` after changing a panel; a test checks that the JSON under
dashboards/grafana/dashboards/ equals this module's output, and the end-to-end test runs every query against a
real Prometheus. Queries use only `opswarden_*` metrics, Faust's `opswarden_faust_*` sensors and `up`/process
metrics of the `opswarden` scrape job, so that a renamed metric breaks a test rather than a panel.
"""

from __future__ import annotations

import json
from pathlib import Path

from grafana_foundation_sdk.builders import bargauge, common, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models.common import (
    BarGaugeDisplayMode,
    BigValueGraphMode,
    GraphDrawStyle,
    LegendDisplayMode,
    LegendPlacement,
    StackingMode,
    VizOrientation,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

OUTPUT_DIR = Path(__file__).parent / "grafana" / "dashboards"
#: The uid the provisioned Prometheus datasource is created with (dashboards/grafana/provisioning/datasources).
DATASOURCE = dm.DataSourceRef(type_val="prometheus", uid="prometheus")
#: Verdicts of changes no authorization covered (the judge's finding types).
NOT_AUTHORIZED = "unauthorized_change|out_of_window_change|out_of_scope_change|revoked_authorization_used"
AUTHORIZED = "authorized|authorized_by_registry"


def query(expr: str, legend: str = "__auto", ref_id: str = "A") -> prom.Dataquery:
    return prom.Dataquery().expr(expr).legend_format(legend).ref_id(ref_id).datasource(DATASOURCE)


def instant(expr: str, legend: str = "__auto", ref_id: str = "A") -> prom.Dataquery:
    return query(expr, legend, ref_id).instant()


def legend() -> common.VizLegendOptions:
    return common.VizLegendOptions().display_mode(LegendDisplayMode.LIST).placement(LegendPlacement.BOTTOM)


def series(title: str, description: str, *targets: prom.Dataquery, unit: str = "short") -> timeseries.Panel:
    panel = timeseries.Panel().title(title).description(description).unit(unit).height(8).span(12)
    panel = panel.datasource(DATASOURCE).legend(legend()).fill_opacity(10)
    for target in targets:
        panel = panel.with_target(target)
    return panel


def stacked_bars(title: str, description: str, target: prom.Dataquery) -> timeseries.Panel:
    stacking = common.StackingConfig().mode(StackingMode.NORMAL)
    return series(title, description, target).draw_style(GraphDrawStyle.BARS).stacking(stacking).fill_opacity(80)


def single_stat(title: str, description: str, target: prom.Dataquery, unit: str = "short") -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .height(5)
        .span(6)
        .datasource(DATASOURCE)
        .graph_mode(BigValueGraphMode.AREA)
        .with_target(target)
    )


def ranking(title: str, description: str, target: prom.Dataquery) -> bargauge.Panel:
    return (
        bargauge.Panel()
        .title(title)
        .description(description)
        .height(8)
        .span(12)
        .datasource(DATASOURCE)
        .display_mode(BarGaugeDisplayMode.GRADIENT)
        .orientation(VizOrientation.HORIZONTAL)
        .with_target(target)
    )


def rate(metric: str, by: str, selector: str = "") -> str:
    return f"sum by ({by}) (rate({metric}{{{selector}}}[$__rate_interval]))"


def increase(metric: str, by: str, selector: str = "", window: str = "$__rate_interval") -> str:
    return f"sum by ({by}) (increase({metric}{{{selector}}}[{window}]))"


def quantiles(metric: str, legend_prefix: str) -> list[prom.Dataquery]:
    return [
        query(
            f"histogram_quantile({q}, sum by (le) (rate({metric}_bucket[$__rate_interval])))",
            f"{legend_prefix} p{round(q * 100)}",
            ref_id,
        )
        for q, ref_id in ((0.5, "A"), (0.9, "B"), (0.99, "C"))
    ]


def base(uid: str, title: str, description: str) -> dash.Dashboard:
    return (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["opswarden"])
        .time("now-6h", "now")
        .refresh("30s")
        .timezone("utc")
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .link(
            dash.DashboardLink("opswarden")
            .type(dm.DashboardLinkType.DASHBOARDS)
            .tags(["opswarden"])
            .as_dropdown(True)
            .keep_time(True)
        )
    )


def analyst_dashboard() -> dash.Dashboard:
    """What a SOC analyst watches: findings, unauthorized changes, loops and creep, pending authorizations."""
    created = 'activity="create"'
    return (
        base(
            "opswarden-analyst",
            "opswarden — analyst",
            "Findings opswarden issued about production changes made by automation. Counts exclude suppressed "
            "findings (see 'Suppressed findings by rule'); the findings themselves are on the opswarden.findings "
            "topic and in the SIEM, keyed by finding_info.uid.",
        )
        .with_row(dash.Row("Findings"))
        .with_panel(
            stacked_bars(
                "Findings over time by type",
                "New findings (OCSF activity Create) per interval, by finding type.",
                query(increase("opswarden_findings_issued_total", "type", created), "{{type}}"),
            )
        )
        .with_panel(
            stacked_bars(
                "Findings over time by severity",
                "New findings per interval, by OCSF severity.",
                query(increase("opswarden_findings_issued_total", "severity", created), "{{severity}}"),
            )
        )
        .with_panel(
            ranking(
                "Top finding types",
                "New findings over the dashboard's time range, most frequent first.",
                instant(
                    f"topk(10, {increase('opswarden_findings_issued_total', 'type', created, '$__range')})",
                    "{{type}}",
                ),
            )
        )
        .with_panel(
            stacked_bars(
                "Unauthorized changes by environment",
                "Changes judged without a covering authorization (unauthorized, out of window, out of scope, "
                "revoked) per interval, by environment.",
                query(
                    increase("opswarden_changes_judged_total", "environment", f'verdict=~"{NOT_AUTHORIZED}"'),
                    "{{environment}}",
                ),
            )
        )
        .with_row(dash.Row("Changes and authorizations"))
        .with_panel(
            series(
                "Changes judged by verdict",
                "Every judged production change per interval, authorized ones included (the ledger).",
                query(increase("opswarden_changes_judged_total", "verdict"), "{{verdict}}"),
            )
        )
        .with_panel(
            single_stat(
                "Production changes authorized",
                "Share of production changes over the time range that an authorization record or the "
                "workflow registry covered.",
                instant(
                    increase(
                        "opswarden_changes_judged_total",
                        "environment",
                        f'environment="production", verdict=~"{AUTHORIZED}"',
                        "$__range",
                    )
                    + " / "
                    + increase("opswarden_changes_judged_total", "environment", 'environment="production"', "$__range")
                ),
                unit="percentunit",
            )
        )
        .with_panel(
            single_stat(
                "Pending authorizations",
                "Changes no record covers yet, held for the grace period (default 15 min of event time) "
                "before a finding is issued.",
                query("sum(opswarden_pending_changes)"),
            )
        )
        .with_panel(
            single_stat(
                "Authorizations in force",
                "Authorization records approved at the current watermark (every worker holds all of them).",
                query("max(opswarden_authorizations_in_force)"),
            )
        )
        .with_panel(
            single_stat(
                "Loops and creep in progress",
                "Remediation loop and permission creep findings opened or grown in the last hour.",
                instant(
                    increase(
                        "opswarden_findings_issued_total",
                        "type",
                        'type=~"remediation_loop|permission_creep", activity=~"create|update"',
                        "1h",
                    ),
                    "{{type}}",
                ),
            )
        )
        .with_panel(
            series(
                "Loops and creep over time",
                "Remediation loop and permission creep findings per interval, by OCSF activity: create opens an "
                "episode, update grows it, close ends it.",
                query(
                    increase(
                        "opswarden_findings_issued_total", "type, activity", 'type=~"remediation_loop|permission_creep"'
                    ),
                    "{{type}} {{activity}}",
                ),
            )
        )
        .with_panel(
            series(
                "Suppressed findings by rule",
                "Findings issued with status Suppressed, by the suppression rule that matched: what each rule hides.",
                query(increase("opswarden_findings_suppressed_total", "rule"), "{{rule}}"),
            )
        )
    )


def operator_dashboard() -> dash.Dashboard:
    """What the platform team watches: throughput, capacity, lag, latency, dead letters, rebalances, state size."""
    return (
        base(
            "opswarden-operator",
            "opswarden — operator",
            "Health of the opswarden workers: throughput, CPU and capacity, consumer and end-to-end lag, latency, "
            "dead letters, rebalances and detector state.",
        )
        .with_row(dash.Row("Throughput"))
        .with_panel(
            series(
                "Events parsed by source",
                "Records parsed into events per second, by source.",
                query(rate("opswarden_events_consumed_total", "source", 'outcome="parsed"'), "{{source}}"),
                unit="ops",
            )
        )
        .with_panel(
            series(
                "Records rejected by source and reason",
                "Records that did not parse, per second, by source and reason class.",
                query(
                    rate("opswarden_events_consumed_total", "source, reason", 'outcome="rejected"'),
                    "{{source}} {{reason}}",
                ),
                unit="ops",
            )
        )
        .with_panel(
            series(
                "Messages received by topic",
                "Kafka messages the workers consumed per second, by topic (Faust sensor).",
                query(rate("opswarden_faust_messages_received_per_topic_total", "topic"), "{{topic}}"),
                unit="ops",
            )
        )
        .with_panel(
            series(
                "Findings and ledger entries published",
                "Findings (suppressed included) and judged changes per second.",
                query(
                    "(sum(rate(opswarden_findings_issued_total[$__rate_interval])) or vector(0))"
                    " + (sum(rate(opswarden_findings_suppressed_total[$__rate_interval])) or vector(0))",
                    "findings",
                ),
                query("sum(rate(opswarden_changes_judged_total[$__rate_interval]))", "ledger entries", "B"),
                unit="ops",
            )
        )
        .with_row(dash.Row("Capacity"))
        .with_panel(
            series(
                "CPU by process",
                "Share of a CPU core each opswarden process uses: worker, and each input-stage process (input-n). "
                "Python runs a process's stage on about one core, so a process near 100% is at its capacity "
                "(alert OpswardenProcessSaturated).",
                query(rate("opswarden_cpu_seconds_total", "instance, process"), "{{instance}} {{process}}"),
                unit="percentunit",
            )
        )
        .with_panel(
            series(
                "CPU an event",
                "CPU time the opswarden processes spend per input record, by process kind and in all (the broker's "
                "own not included). Cores needed for a rate: the rate times the total (README, Sizing CPU).",
                query(
                    "sum by (process) (rate(opswarden_cpu_seconds_total[$__rate_interval]))"
                    " / on() group_left() sum(rate(opswarden_events_consumed_total[$__rate_interval]))",
                    "{{process}}",
                ),
                query(
                    "sum(rate(opswarden_cpu_seconds_total[$__rate_interval]))"
                    " / sum(rate(opswarden_events_consumed_total[$__rate_interval]))",
                    "all processes",
                    "B",
                ),
                unit="s",
            )
        )
        .with_panel(
            series(
                "Garbage collection pauses",
                "The 99th percentile of how long Python's garbage collections stopped each process, and the share of "
                "its time they took. A collection stops the whole event loop: its pauses are part of the latency "
                "tail (README, Benchmarks).",
                query(
                    "histogram_quantile(0.99, sum by (process, le) "
                    "(rate(opswarden_gc_pause_seconds_bucket[$__rate_interval])))",
                    "{{process}} p99",
                ),
                query(
                    "sum by (process) (rate(opswarden_gc_pause_seconds_sum[$__rate_interval]))",
                    "{{process}} share of time",
                    "B",
                ),
                unit="s",
            )
        )
        .with_row(dash.Row("Lag and latency"))
        .with_panel(
            series(
                "Consumer lag by topic",
                "Messages behind (end offset minus committed offset), summed over partitions.",
                query("sum by (topic) (opswarden_consumer_lag_messages)", "{{topic}}"),
            )
        )
        .with_panel(
            series(
                "End-to-end lag",
                "From a finding's latest event time to its publication. The authorization grace and the "
                "allowed lateness (20 min by default) are part of it by design.",
                *quantiles("opswarden_end_to_end_lag_seconds", "lag"),
                unit="s",
            )
        )
        .with_panel(
            series(
                "Processing latency",
                "Wall-clock time to parse and route one batch of input (the input stage).",
                *quantiles("opswarden_processing_latency_seconds", "latency"),
                unit="s",
            )
        )
        .with_panel(
            series(
                "State writes, due to acknowledged",
                "From a partition's state write falling due to its input being acknowledged: two broker round "
                "trips and the write. Seconds here mean commits trail the engines (a crash re-reads more).",
                *quantiles("opswarden_state_write_seconds", "write"),
                unit="s",
            )
        )
        .with_panel(
            series(
                "End-to-end lag p99 by finding type",
                "Which finding types arrive late: a source delivering late shows up in its types only.",
                query(
                    "histogram_quantile(0.99, sum by (type, le) "
                    "(rate(opswarden_end_to_end_lag_seconds_bucket[$__rate_interval])))",
                    "{{type}}",
                ),
                unit="s",
            )
        )
        .with_row(dash.Row("Errors and membership"))
        .with_panel(
            stacked_bars(
                "Dead letters by topic and reason",
                "Messages sent to opswarden.deadletter per interval.",
                query(increase("opswarden_dead_letters_total", "topic, reason"), "{{topic}} {{reason}}"),
            )
        )
        .with_panel(
            stacked_bars(
                "Rebalances",
                "Consumer group rebalances per interval, by worker.",
                query(increase("opswarden_rebalances_total", "instance"), "{{instance}}"),
            )
        )
        .with_panel(
            stacked_bars(
                "Input-stage restarts",
                "Input-stage processes that exited and were started again, per interval, by worker.",
                query(increase("opswarden_ingest_process_restarts_total", "instance"), "{{instance}}"),
            )
        )
        .with_panel(
            single_stat(
                "Workers up",
                "Workers Prometheus scrapes successfully.",
                query('sum(up{job="opswarden"})'),
            )
        )
        .with_panel(
            single_stat(
                "Dead letters (time range)",
                "Messages dead-lettered over the dashboard's time range.",
                instant("sum(increase(opswarden_dead_letters_total[$__range]))"),
            )
        )
        .with_row(dash.Row("State"))
        .with_panel(
            series(
                "Tracked keys by detector",
                "Principals or targets each detector holds state for (summed over workers).",
                query("sum by (detector, key_kind) (opswarden_tracked_keys)", "{{detector}} ({{key_kind}})"),
            )
        )
        .with_panel(
            series(
                "Evicted keys by detector",
                "Keys dropped per interval because they went idle or exceeded the detector's cap.",
                query(increase("opswarden_evicted_keys_total", "detector"), "{{detector}}"),
            )
        )
        .with_panel(
            series(
                "Held back, let go early",
                "Changes judged before their grace period ended (their principal held too many) and items let out of a "
                "full reorder buffer before the window passed them: non-zero means state caps are being hit.",
                query("sum(increase(opswarden_changes_judged_early_total[$__rate_interval]))", "judged early", "A"),
                query(increase("opswarden_reorder_released_early_total", "topic"), "released early {{topic}}", "B"),
            )
        )
        .with_panel(
            series(
                "Model warm-up",
                "Keys of learning detectors that have too little history to raise findings (warming) or enough (warm).",
                query("sum by (detector, state) (opswarden_model_keys)", "{{detector}} {{state}}"),
            )
        )
        .with_panel(
            series(
                "Global model snapshots",
                "Snapshots of the detectors' global models on opswarden.models, by model and outcome: written when a "
                "model changed, restored by a starting worker, merged from another worker (the fan-out); refused, "
                "too_large or undelivered mean a replacement would start that model old or empty.",
                query(increase("opswarden_model_snapshots_total", "model, outcome"), "{{model}} {{outcome}}"),
            )
        )
        .with_panel(
            series(
                "Worker memory",
                "Resident memory of each worker process.",
                query('process_resident_memory_bytes{job="opswarden"}', "{{instance}}"),
                unit="bytes",
            )
        )
        .with_panel(
            table.Panel()
            .title("Build and configuration")
            .description("Version and configuration hash each worker runs: workers with different hashes disagree.")
            .height(6)
            .span(24)
            .datasource(DATASOURCE)
            .with_target(instant("opswarden_build_info").format(PromQueryFormat.TABLE))
        )
    )


DASHBOARDS: dict[str, Builder[dm.Dashboard]] = {
    "opswarden-analyst.json": analyst_dashboard(),
    "opswarden-operator.json": operator_dashboard(),
}


def render(builder: Builder[dm.Dashboard]) -> str:
    """The provisioned JSON of one dashboard: stable key order, so regeneration gives identical bytes.

    Panels are numbered in order (the SDK leaves every id at 0, and Grafana links panels by id).
    """
    model = builder.build()
    for number, panel in enumerate(model.panels or [], start=1):
        panel.id_val = number
    return json.dumps(model, cls=JSONEncoder, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def rendered() -> dict[str, str]:
    return {name: render(builder) for name, builder in DASHBOARDS.items()}


def main() -> None:
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in rendered().items():
        (OUTPUT_DIR / name).write_text(text)
        print(f"wrote {OUTPUT_DIR / name}")


if __name__ == "__main__":
    main()
