"""A study's report as one self-contained HTML page: plotly figures of ``frames``' tables, the
plotly library embedded once, so the file opens offline (no network, no server).

Pure: frames in, a string out.
"""

from __future__ import annotations

import html
import math

import plotly.graph_objects as go
import polars as pl
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from quant_assets.report.frames import UNIVERSE, Study

DASH = {"model": "solid", "portfolio": "solid", "baseline": "dot"}
WIDTH = {"model": 1.2, "portfolio": 3.0, "baseline": 1.0}
HEIGHT = 420


def equity_figure(equity: pl.DataFrame, scope: str) -> go.Figure:
    def draw(fig, series, curve, col):
        kind = curve["kind"][0]
        # a series with one evaluable day is a point, not a line
        fig.add_trace(go.Scatter(x=curve["day"].to_list(), y=curve["equity"].to_list(), name=series, mode="lines" if curve.height > 1 else "markers",
                                 line={"dash": DASH[kind], "width": WIDTH[kind]}), row=1, col=col)  # fmt: skip

    return _by_horizon(equity, scope, "equity after cost, cumulative (models solid, portfolio bold, baselines dotted)", draw)


def _by_horizon(frame: pl.DataFrame, scope: str, title: str, draw) -> go.Figure:
    """One subplot per horizon, ``draw(fig, series, rows, col)`` adds each series' trace."""
    shown = frame.filter(pl.col("scope") == scope)
    horizons = sorted(shown["horizon"].unique(), key=_horizon_order)
    fig = make_subplots(rows=1, cols=max(len(horizons), 1), subplot_titles=horizons or ["no evaluable rows"])
    for col, horizon in enumerate(horizons, start=1):
        for (series,), rows in shown.filter(pl.col("horizon") == horizon).group_by("series", maintain_order=True):
            draw(fig, series, rows, col)
    fig.update_layout(title=f"{scope}: {title}", height=HEIGHT)
    return fig


def rank_ic_figure(ic: pl.DataFrame, scope: str) -> go.Figure:
    def draw(fig, series, rows, col):
        fig.add_trace(go.Scatter(x=rows["day"].to_list(), y=rows["rolling_ic"].to_list(), name=series, mode="lines"), row=1, col=col)

    return _by_horizon(ic, scope, "rolling rank IC per horizon (7-day mean of daily rank IC)", draw)


def calibration_figure(calib: pl.DataFrame, scope: str) -> go.Figure:
    def draw(fig, series, rows, col):
        fig.add_trace(go.Scatter(x=rows["predicted"].to_list(), y=rows["realised"].to_list(), name=series, mode="lines+markers",
                                 text=[f"bucket {b}: {n} rows" for b, n in zip(rows["bucket"], rows["rows"])]), row=1, col=col)  # fmt: skip

    return _by_horizon(calib, scope, "calibration: mean realised vs mean predicted return by prediction quintile", draw)


def coverage_figure(coverage: pl.DataFrame) -> go.Figure:
    sources = sorted(coverage["source"].unique())
    fig = make_subplots(rows=max(len(sources), 1), cols=1, shared_xaxes=True, subplot_titles=sources or ["no feature rows"])
    for row, source in enumerate(sources, start=1):
        for (symbol,), days in coverage.filter(pl.col("source") == source).group_by("symbol", maintain_order=True):
            fig.add_trace(go.Scatter(x=days["day"].to_list(), y=days["coverage"].to_list(), name=f"{symbol} {source}", mode="lines",
                                     legendgroup=symbol), row=row, col=1)  # fmt: skip
        fig.update_yaxes(range=[-0.05, 1.05], row=row, col=1)
    fig.update_layout(title="per-source coverage: share of each day's decision rows with a record", height=180 * max(len(sources), 1) + 120)
    return fig


def _horizon_order(horizon: str) -> float:
    unit = {"h": 1, "d": 24}.get(horizon[-1:], math.inf)
    try:
        return float(horizon[:-1]) * unit
    except ValueError:
        return math.inf


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.3g}"
    if isinstance(value, bool):
        return "PASS" if value else "FAIL"
    return html.escape("" if value is None else str(value)).replace("\n", "<br>")


def pooled_figure(table: pl.DataFrame) -> go.Figure:
    """Per horizon, lgbm_pooled next to lgbm: mean rank IC and the universe book's Sharpe."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=["mean daily rank IC", "Sharpe of the universe's daily PnL after cost"])
    for family in ("lgbm", "lgbm_pooled"):
        for col, figure in enumerate(("rank_ic", "sharpe"), start=1):
            fig.add_trace(go.Bar(x=table["horizon"].to_list(), y=table[f"{family}_{figure}"].to_list(), name=family, legendgroup=family,
                                 showlegend=col == 1), row=1, col=col)  # fmt: skip
    fig.update_layout(title="pooled fit (lgbm_pooled) vs per-symbol fits (lgbm), per horizon", barmode="group", height=HEIGHT)
    return fig


def frame_table(frame: pl.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in frame.iter_rows())
    return f"<table class=verdicts><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def verdict_table(verdicts: pl.DataFrame) -> str:
    if verdicts.is_empty():
        return "<p>No gate_verdict rows on the study's last day.</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in verdicts.columns)
    body = "".join(
        f"<tr class={'pass' if row.get('passed') else 'fail'}>" + "".join(f"<td>{_cell(v)}</td>" for v in row.values()) + "</tr>"
        for row in verdicts.iter_rows(named=True)
    )
    return f"<table class=verdicts><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table.verdicts{border-collapse:collapse;font-size:12px}
table.verdicts td,table.verdicts th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}
tr.pass td{background:#e8f6e8} tr.fail td{background:#fbeaea}
table.verdicts td:last-child{min-width:42em}
nav a{margin-right:1em}
"""


def render(study: Study, equity: pl.DataFrame, ic: pl.DataFrame, calib: pl.DataFrame, coverage: pl.DataFrame,
           verdicts: pl.DataFrame, figures: dict, notes: list[str], pooled: tuple[pl.DataFrame, str] | None = None) -> str:  # fmt: skip
    """The page: a summary, the pooled family against the per-symbol fits (``pooled``: its
    table and sentence), the universe's then each symbol's equity, rank IC and calibration,
    the coverage over time and the last day's verdicts."""
    scopes = [UNIVERSE, *study.symbols]
    parts = [
        f"<h1>Study {study.start} to {study.end}: {html.escape(', '.join(study.symbols))}</h1>",
        "<nav><a href='#pooled'>pooled vs per-symbol</a>"
        + "".join(f"<a href='#{s}'>{s}</a>" for s in scopes)
        + "<a href='#coverage'>coverage</a><a href='#verdicts'>verdicts</a></nav>",
        "<ul>"
        + "".join(f"<li>{html.escape(k)}: {_cell(v)}</li>" for k, v in figures.items())
        + "".join(f"<li>{html.escape(n)}</li>" for n in notes)
        + "</ul>",
    ]
    if pooled is not None:
        table, said = pooled
        parts.append(f"<h2 id='pooled'>Pooled fit vs per-symbol fits</h2><p class=pooled>{html.escape(said)}</p>")
        if not table.is_empty():
            parts.append(frame_table(table) + pooled_figure(table).to_html(full_html=False, include_plotlyjs=False))
    for scope in scopes:
        parts.append(f"<h2 id='{scope}'>{scope}</h2>")
        for fig in (equity_figure(equity, scope), rank_ic_figure(ic, scope), calibration_figure(calib, scope)):
            parts.append(fig.to_html(full_html=False, include_plotlyjs=False))
    parts.append("<h2 id='coverage'>Coverage</h2>" + coverage_figure(coverage).to_html(full_html=False, include_plotlyjs=False))
    parts.append(f"<h2 id='verdicts'>Verdicts on {study.end}</h2>" + verdict_table(verdicts))
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>study {html.escape(study.key)}</title><style>{STYLE}</style>"
        # The library inline, once: the page must render with no network at all.
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>" + "\n".join(parts) + "</body></html>"
    )
