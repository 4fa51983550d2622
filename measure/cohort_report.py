"""The cohort report in CSV, HTML and PDF, from the table of :mod:`measure.cohort`.

Every number says how many cases (or levels) it comes from.  Plots (matplotlib, Agg): VKA of
each treated level at pre-op, post-op and follow-up as paired lines; mean VAS and ODI over
time; cement leakage by location.
"""

from __future__ import annotations

import base64
import csv
import io
from html import escape
from typing import Any

from measure.cohort import KINDS, CohortAccumulator

LABELS = {
    "vka_deg": "VKA (deg)",
    "ha_mm": "Ha (mm)",
    "hm_mm": "Hm (mm)",
    "hp_mm": "Hp (mm)",
    "height_loss_adjacent_ha_pct": "Ha loss vs adjacent (%)",
    "vas": "VAS (0-10)",
    "odi": "ODI (0-100)",
    "analgesic_step": "WHO analgesic step",
    "restoration_ha_pct": "Ha restoration (%)",
    "correction_deg": "Correction (deg, pre - post)",
    "height_gain_ha_mm": "Ha gain (mm)",
    "height_gain_hm_mm": "Hm gain (mm)",
    "loss_of_correction_deg": "Loss of correction (deg, follow-up - post)",
    "vas_change_post_op": "VAS change, pre-op to post-op",
    "vas_change_follow_up": "VAS change, pre-op to follow-up",
    "odi_change_follow_up": "ODI change, pre-op to follow-up",
}


def _n(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _description_cell(d: dict[str, Any]) -> str:
    if not d["n"]:
        return "n = 0"
    sd = f" ± {_n(d['sd'])}" if d["sd"] is not None else ""
    return (
        f"{_n(d['mean'])}{sd}; {_n(d['median'])} [{_n(d['q1'])}-{_n(d['q3'])}]; "
        f"{_n(d['min'])} to {_n(d['max'])} (n = {d['n']})"
    )


def variable_rows(table: dict[str, Any]) -> list[list[str]]:
    """Variable, then per timepoint 'mean ± SD; median [IQR]; range (n)'."""
    rows = []
    for name, per_kind in table["variables"].items():
        rows.append(
            [
                LABELS.get(name, name),
                *(_description_cell(per_kind[k]) if k in per_kind else "" for k in KINDS),
            ]
        )
    return rows


def comparison_rows(table: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, c in table["comparisons"].items():
        ci = "-" if c["ci95"] is None else f"{_n(c['ci95'][0])} to {_n(c['ci95'][1])}"
        rows.append(
            [
                LABELS.get(name, name),
                _n(c["mean"]),
                _n(c["sd"]),
                ci,
                _p(c["p_paired_t"]),
                _p(c["p_wilcoxon"]),
                str(c["n"]),
            ]
        )
    return rows


def rate_rows(table: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, r in table["rates"].items():
        pct = "-" if r["proportion"] is None else f"{100 * r['proportion']:.1f} %"
        ci = "-" if r["ci95"] is None else f"{100 * r['ci95'][0]:.1f} to {100 * r['ci95'][1]:.1f} %"
        rows.append([name.replace("_", " "), f"{r['k']} / {r['n']}", pct, ci])
    return rows


def cohort_csv(table: dict[str, Any]) -> str:
    """One row per statistic: section, variable, timepoint, statistic, value, n."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["section", "variable", "timepoint", "statistic", "value", "n"])
    w.writerow(["cohort", "n_cases", "", "count", table["n_cases"], table["n_cases"]])
    w.writerow(["cohort", "n_levels", "", "count", table["n_levels"], table["n_levels"]])
    for name, per_kind in table["variables"].items():
        for kind, d in per_kind.items():
            for stat in ("mean", "sd", "median", "q1", "q3", "min", "max"):
                w.writerow(["variable", name, kind, stat, "" if d[stat] is None else repr(d[stat]), d["n"]])
    for name, c in table["comparisons"].items():
        for stat in ("mean", "sd", "p_paired_t", "p_wilcoxon"):
            w.writerow(["comparison", name, "", stat, "" if c[stat] is None else repr(c[stat]), c["n"]])
        if c["ci95"] is not None:
            w.writerow(["comparison", name, "", "ci95_low", repr(c["ci95"][0]), c["n"]])
            w.writerow(["comparison", name, "", "ci95_high", repr(c["ci95"][1]), c["n"]])
    for name, r in table["rates"].items():
        w.writerow(["rate", name, "", "k", r["k"], r["n"]])
        if r["proportion"] is not None:
            w.writerow(["rate", name, "", "proportion", repr(r["proportion"]), r["n"]])
    for s in table["skipped"]:
        w.writerow(["skipped", s["path"], "", "reason", s["reason"], ""])
    return out.getvalue()


def plots_png(acc: CohortAccumulator, table: dict[str, Any]) -> list[tuple[str, bytes]]:
    """(title, PNG bytes) of the report's plots."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    out: list[tuple[str, bytes]] = []

    def save(fig: Any, title: str) -> None:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        out.append((title, buffer.getvalue()))

    levels = [lv for c in acc.cases for lv in c.levels]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for lv in levels[:2000]:  # beyond that the lines are a blur; the table has every level
        xs = [i for i, k in enumerate(KINDS) if ("vka_deg", k) in lv.values]
        ax.plot(xs, [lv.values[("vka_deg", KINDS[i])] for i in xs], color="#1f77b4", alpha=0.3, lw=0.8)
    ax.set_xticks(range(len(KINDS)), KINDS)
    ax.set_ylabel("VKA (deg)")
    ax.set_title(f"VKA per treated level (n = {len(levels)} levels)")
    save(fig, "VKA per level")

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for name, color in (("vas", "#d62728"), ("odi", "#2ca02c")):
        per_kind = table["variables"][name]
        xs = [i for i, k in enumerate(KINDS) if per_kind[k]["n"]]
        means = [per_kind[KINDS[i]]["mean"] / (10.0 if name == "odi" else 1.0) for i in xs]
        sds = [(per_kind[KINDS[i]]["sd"] or 0.0) / (10.0 if name == "odi" else 1.0) for i in xs]
        label = "VAS (0-10)" if name == "vas" else "ODI / 10"
        ax.errorbar(xs, means, yerr=sds, marker="o", capsize=3, color=color, label=label)
    ax.set_xticks(range(len(KINDS)), KINDS)
    ax.set_ylim(bottom=0)
    ax.legend()
    ax.set_title("Pain and disability over time (mean ± SD)")
    save(fig, "VAS and ODI")

    fig, ax = plt.subplots(figsize=(5, 2.8))
    leaks = table["leakage_by_location"]
    names = ["epidural", "foraminal", "prevertebral", "disc", "venous"]
    ax.bar(names, [leaks.get(n, 0) for n in names], color="#9467bd")
    ax.set_ylabel("levels")
    ax.set_title(f"Cement leakage by location (n = {table['n_levels']} levels)")
    save(fig, "Leakage by location")
    return out


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def cohort_html(acc: CohortAccumulator, table: dict[str, Any]) -> str:
    demo = table["demographics"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Endplate cohort report</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #9aa5b1;padding:2px 6px;font-size:13px}th{background:#dde6f0}",
        "</style></head><body>",
        "<h1>Cohort report</h1>",
        f"<p>{table['n_cases']} patients, {table['n_levels']} levels. Age "
        f"{escape(_description_cell(demo['age_years']))} years. Sex: "
        f"{escape(', '.join(f'{k} {v}' for k, v in demo['sex'].items()))}. Levels by region: "
        f"{escape(', '.join(f'{k} {v}' for k, v in table['levels_by_region'].items()))}.</p>",
        "<h2>Per timepoint</h2><p>mean ± SD; median [IQR]; range (n)</p>",
        _html_table(["Variable", *KINDS], variable_rows(table)),
        "<h2>Changes (paired)</h2>",
        _html_table(
            ["Change", "Mean", "SD", "95 % CI", "p (paired t)", "p (Wilcoxon)", "n"], comparison_rows(table)
        ),
        "<h2>Rates (95 % Wilson CI)</h2>",
        _html_table(["Rate", "k / n", "%", "95 % CI"], rate_rows(table)),
    ]
    for title, png in plots_png(acc, table):
        data = base64.b64encode(png).decode("ascii")
        parts.append(f"<figure><img alt='{escape(title)}' src='data:image/png;base64,{data}'></figure>")
    if table["skipped"]:
        parts.append("<h2>Files not read</h2>")
        parts.append(_html_table(["File", "Reason"], [[s["path"], s["reason"]] for s in table["skipped"]]))
    parts.append("</body></html>")
    return "".join(parts)


def cohort_pdf(acc: CohortAccumulator, table: dict[str, Any]) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=landscape(A4), leftMargin=12 * mm, rightMargin=12 * mm)
    style = TableStyle(
        [
            ("FONTSIZE", (0, 0), (-1, -1), 7),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde6f0")),
            ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#9aa5b1")),
        ]
    )
    demo = table["demographics"]
    story: list[Any] = [
        Paragraph("Cohort report", styles["Title"]),
        Paragraph(
            escape(
                f"{table['n_cases']} patients, {table['n_levels']} levels. Age "
                f"{_description_cell(demo['age_years'])} years. Sex: "
                f"{', '.join(f'{k} {v}' for k, v in demo['sex'].items())}."
            ),
            styles["Normal"],
        ),
        Spacer(1, 3 * mm),
    ]
    for header, rows in (
        (["Variable", *KINDS], variable_rows(table)),
        (["Change", "Mean", "SD", "95 % CI", "p (paired t)", "p (Wilcoxon)", "n"], comparison_rows(table)),
        (["Rate", "k / n", "%", "95 % CI (Wilson)"], rate_rows(table)),
    ):
        t = Table([header, *rows], repeatRows=1)
        t.setStyle(style)
        story += [t, Spacer(1, 3 * mm)]
    for _title, png in plots_png(acc, table):
        story.append(Image(io.BytesIO(png), width=110 * mm, height=70 * mm, kind="proportional"))
    if table["skipped"]:
        story.append(Paragraph("Files not read", styles["Heading2"]))
        for s in table["skipped"]:
            story.append(Paragraph(escape(f"{s['path']}: {s['reason']}"), styles["Normal"]))
    doc.build(story)
    return buffer.getvalue()
