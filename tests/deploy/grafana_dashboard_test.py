"""The Grafana dashboard (deploy/grafana/skouter-dashboard.json) against the metrics
skouterd exports (tests/deploy/metric_names.txt): every metric and label its queries
name exists, every panel has a title and takes its data source from the DS_PROMETHEUS
variable, and (when promtool is installed) every query parses as PromQL.

metric_names.txt has one metric per line: its name (a histogram by its base name), its
type and its labels, e.g. `skouter_dns_answers_total counter outcome`.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DASHBOARD = os.path.join(REPO, "deploy", "grafana", "skouter-dashboard.json")
METRIC_NAMES = os.path.join(REPO, "tests", "deploy", "metric_names.txt")
DATASOURCE_UID = "${DS_PROMETHEUS}"
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"instance", "job"}
PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool",
                   "offset", "and", "or", "unless"}

failures = []


def expect(condition, message):
    if not condition:
        failures.append(message)


def load_metrics():
    metrics = {}
    with open(METRIC_NAMES) as lines:
        for number, line in enumerate(lines, 1):
            fields = line.split()
            if not fields:
                continue
            expect(len(fields) >= 2 and fields[1] in ("counter", "gauge", "histogram"),
                   f"metric_names.txt:{number}: want NAME TYPE [LABEL...], got {line!r}")
            expect(re.fullmatch(r"skouter_[a-z_]+", fields[0]) is not None,
                   f"metric_names.txt:{number}: {fields[0]!r} is not a skouter_ metric name")
            metrics[fields[0]] = (fields[1] if len(fields) > 1 else "", set(fields[2:]))
    return metrics


def series_labels(name, metrics):
    """The labels a series `name` carries, or None if skouterd exports no such series."""
    if name in metrics and metrics[name][0] != "histogram":
        return metrics[name][1]
    for suffix in HISTOGRAM_SUFFIXES:
        base = name[: -len(suffix)] if name.endswith(suffix) else None
        if base in metrics and metrics[base][0] == "histogram":
            return metrics[base][1] | ({"le"} if suffix == "_bucket" else set())
    return None


def panels_of(dashboard):
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # collapsed rows hold their panels


def check_expression(where, expr, legend, metrics):
    names = set(re.findall(r"\bskouter_[a-z_]+", expr))
    expect(names, f"{where}: {expr!r} reads no skouter_ metric")
    allowed_labels = set(TARGET_LABELS)
    for name in names:
        labels = series_labels(name, metrics)
        expect(labels is not None, f"{where}: {name} is not a metric skouterd exports "
               "(tests/deploy/metric_names.txt)")
        allowed_labels |= labels or set()
    used = set()
    for clause in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", expr):
        used |= {label.strip() for label in clause.split(",") if label.strip()}
    for matchers in re.findall(r"\{([^}]*)\}", expr):
        used |= set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", matchers))
    used |= set(re.findall(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}", legend or ""))
    for label in sorted(used - allowed_labels - PROMQL_KEYWORDS):
        expect(False, f"{where}: label {label!r} is not one of {sorted(allowed_labels)}")


def check_with_promtool(expressions):
    """Every query must parse: promtool checks them as recording rules, with Grafana's
    variables replaced by values Prometheus accepts."""
    promtool = shutil.which("promtool")
    if not promtool:
        print("promtool not installed: PromQL syntax not checked "
              "(deploy/install-deps.sh installs it)")
        return
    rules = ["groups:", "  - name: dashboard", "    rules:"]
    for index, (_, expr) in enumerate(expressions):
        concrete = (expr.replace("$__rate_interval", "5m").replace("$__range", "1h")
                    .replace("$__interval", "1m").replace("$instance", ".*"))
        rules += [f"      - record: dashboard:query{index}",
                  f"        expr: {json.dumps(concrete)}"]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
        file.write("\n".join(rules) + "\n")
        file.flush()
        result = subprocess.run([promtool, "check", "rules", file.name], capture_output=True,
                                text=True)
    expect(result.returncode == 0,
           f"promtool rejects a query:\n{result.stdout}{result.stderr}\nqueries:\n" +
           "\n".join(f"  {index}: {where}" for index, (where, _) in enumerate(expressions)))


def main():
    metrics = load_metrics()
    with open(DASHBOARD) as file:
        dashboard = json.load(file)

    expect(dashboard.get("schemaVersion", 0) >= 36,
           f"schemaVersion {dashboard.get('schemaVersion')} is below 36")
    expect(dashboard.get("title"), "the dashboard has no title")
    variables = {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}
    source = variables.get("DS_PROMETHEUS", {})
    expect(source.get("type") == "datasource" and source.get("query") == "prometheus",
           "no datasource variable DS_PROMETHEUS of type prometheus")
    instance = variables.get("instance", {})
    expect(instance.get("type") == "query", "no query variable `instance`")
    expect((instance.get("datasource") or {}).get("uid") == DATASOURCE_UID,
           "variable `instance` does not query ${DS_PROMETHEUS}")

    expressions = []
    instance_query = instance.get("query")
    if isinstance(instance_query, dict):
        instance_query = instance_query.get("query", "")
    match = re.fullmatch(r"label_values\((skouter_[a-z_]+),\s*instance\)", instance_query or "")
    expect(match is not None, f"variable `instance`: {instance_query!r} is not "
           "label_values(METRIC, instance)")
    if match:
        expect(series_labels(match.group(1), metrics) is not None,
               f"variable `instance`: {match.group(1)} is not a metric skouterd exports")

    panels = list(panels_of(dashboard))
    expect(panels, "the dashboard has no panels")
    ids = [panel.get("id") for panel in panels]
    expect(len(ids) == len(set(ids)), f"panel ids repeat: {ids}")
    for panel in panels:
        title = panel.get("title", "")
        where = f"panel {title or panel.get('id')!r}"
        expect(title.strip(), f"panel {panel.get('id')} has no title")
        if panel.get("type") == "row":
            continue
        expect((panel.get("datasource") or {}).get("uid") == DATASOURCE_UID,
               f"{where}: datasource is not ${{DS_PROMETHEUS}}: {panel.get('datasource')}")
        targets = panel.get("targets", [])
        expect(targets, f"{where}: no queries")
        for target in targets:
            target_source = target.get("datasource")
            expect(target_source is None or target_source.get("uid") == DATASOURCE_UID,
                   f"{where}: query {target.get('refId')} has datasource {target_source}")
            expr = target.get("expr", "")
            expect(expr, f"{where}: query {target.get('refId')} has no expr")
            expect('instance=~"$instance"' in expr,
                   f"{where}: {expr!r} does not follow the `instance` variable")
            check_expression(where, expr, target.get("legendFormat"), metrics)
            expressions.append((where, expr))

    check_with_promtool(expressions)

    if failures:
        for failure in failures:
            print("FAIL:", failure)
        return 1
    print(f"{DASHBOARD}: {len(panels)} panels, {len(expressions)} queries, "
          f"{len(metrics)} known metrics")
    return 0


if __name__ == "__main__":
    sys.exit(main())
