"""The read-only dashboard at ``/``: leaderboard with flags, PGR over time, latest findings.

Rendered on the server (Jinja2 with autoescaping, an inline SVG chart): no front-end
build, and every agent-written string is escaped. It shows what the leaderboard shows:
released feedback scores (ladder values) and blind holdout PGR as an interval only.
"""

from __future__ import annotations

import time
from html import escape

from jinja2 import Environment
from markupsafe import Markup

from .schemas import Baselines, Finding, LeaderboardEntry

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
          "#7f7f7f", "#bcbd22", "#17becf")

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="30">
<title>W2S automated researcher: {{ task }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin-bottom: 1.5rem; }
th, td { border-bottom: 1px solid #ddd; padding: .3rem .6rem; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.flag { background: #fde2e1; color: #a4161a; border-radius: .3rem; padding: 0 .3rem;
        margin-right: .2rem; font-size: .85em; }
.muted { color: #777; }
</style></head><body>
<h1>W2S automated researcher</h1>
<p>Task <b>{{ task }}</b>: weak <b>{{ weak_model }}</b> &rarr; strong <b>{{ strong_model }}</b>
({{ regime }}). Baselines (accuracy) &mdash;
{% for split in baselines.weak %}{{ split }}: weak {{ "%.3f"|format(baselines.weak[split]) }},
ceiling {{ "%.3f"|format(baselines.ceiling[split]) }}{% if not loop.last %}; {% endif %}
{%- endfor %}. Scores are the server's own, as released: feedback through each agent's
ladder (a new best only when it beats the last by one step), blind holdout as a 95% interval.
Only ideas submitted with enough training seeds count (the seed gate) and rank first; then
clean entries before flagged ones, then by holdout, then by feedback PGR. CPU and tokens are
the agents' own reports (the organizer's re-runs are measured); dollars are priced here.</p>
<h2>Leaderboard</h2>
<table id="leaderboard"><thead><tr><th>#</th><th>agent</th><th>idea</th><th>submissions</th>
<th>best feedback PGR</th><th>holdout PGR (95% interval)</th><th>seeds</th>
<th>CPU-s (measured)</th><th>$</th><th>PGR / CPU-h</th><th>PGR / $</th><th>flags</th>
</tr></thead><tbody>
{% for e in entries %}<tr>
<td class="num">{{ e.rank }}</td><td>{{ e.agent }}</td><td>{{ e.idea }}</td>
<td class="num">{{ e.submissions }}</td><td class="num">{{ fmt(e.best_feedback_pgr) }}</td>
<td class="num">{% if e.holdout_pgr_low is not none %}[{{ "%.2f"|format(e.holdout_pgr_low) }},
{{ "%.2f"|format(e.holdout_pgr_high) }}]{% else %}–{% endif %}</td>
<td class="num">{{ e.seeds }}{% if not e.counted %} <span class="muted">(not counted)</span>
{% endif %}</td><td class="num">{{ "%.1f"|format(e.cpu_seconds) }}
{% if e.server_cpu_seconds %}({{ "%.1f"|format(e.server_cpu_seconds) }}){% endif %}</td>
<td class="num">{{ "%.4f"|format(e.dollars) }}</td>
<td class="num">{{ fmt(e.pgr_per_cpu_hour) }}</td>
<td class="num">{{ fmt(e.pgr_per_dollar) }}</td>
<td>{% for f in e.flags %}<span class="flag">{{ f }}</span>{% endfor %}</td></tr>
{% else %}<tr><td colspan="12" class="muted">no submissions yet</td></tr>{% endfor %}
</tbody></table>
<h2>Agents</h2>
<table id="agents"><thead><tr><th>agent</th><th>submissions used</th><th>holdout used</th>
<th>rejected (malformed, over budget or rate)</th></tr></thead><tbody>
{% for a in agents %}<tr><td>{{ a.agent }}</td><td class="num">{{ a.used }} / {{ a.budget }}</td>
<td class="num">{{ a.holdout_used }} / {{ a.holdout_budget }}</td>
<td class="num">{{ a.rejected }}</td></tr>
{% else %}<tr><td colspan="4" class="muted">no keys issued</td></tr>{% endfor %}
</tbody></table>
<h2>Released feedback PGR over time (each agent's ladder)</h2>
{{ chart }}
<h2>Latest findings</h2>
<table id="findings"><thead><tr><th>when</th><th>agent</th><th>idea</th><th>hypothesis</th>
<th>server score</th></tr></thead><tbody>
{% for f in findings %}<tr><td>{{ when(f.created) }}</td><td>{{ f.agent }}</td>
<td>{{ f.idea or "" }}</td><td>{{ f.hypothesis }}</td>
<td>{% if f.verified %}PGR {{ fmt(f.verified.pgr) }}{% for flag in f.verified.flags %}
<span class="flag">{{ flag }}</span>{% endfor %}{% else %}<span class="muted">none linked</span>
{% endif %}</td></tr>
{% else %}<tr><td colspan="5" class="muted">no findings yet</td></tr>{% endfor %}
</tbody></table>
</body></html>
"""

_template = Environment(autoescape=True).from_string(TEMPLATE)


def render(*, experiment: dict, baselines: Baselines, entries: list[LeaderboardEntry],
           series: dict[str, list[tuple[float, float]]], findings: list[Finding],
           agents: list[dict]) -> str:
    """The page; ``agents`` rows carry budget use and rejected-request counts per agent."""
    return _template.render(agents=agents,
        task=experiment["task"], weak_model=experiment["weak_model"],
        strong_model=experiment["strong_model"], regime=experiment["regime"],
        baselines=baselines, entries=entries, findings=findings, chart=pgr_chart(series),
        fmt=lambda x: "–" if x is None else f"{x:.3f}",
        when=lambda t: time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)),
    )


def pgr_chart(series: dict[str, list[tuple[float, float]]], width: int = 720,
              height: int = 240, pad: int = 36, legend: int = 110) -> Markup:
    """One polyline of feedback PGR against time per agent, with PGR 0 and 1 marked."""
    points = [p for values in series.values() for p in values]
    if not points:
        return Markup('<p class="muted">no scored submissions yet</p>')
    t0, t1 = min(t for t, _ in points), max(t for t, _ in points)
    low = min(-0.2, *(v for _, v in points))
    high = max(1.2, *(v for _, v in points))
    low, high = max(low, -2.0), min(high, 3.0)

    def xy(t: float, v: float) -> str:
        x = pad + (width - 2 * pad - legend) * ((t - t0) / (t1 - t0) if t1 > t0 else 0.5)
        v = min(max(v, low), high)
        y = height - pad - (height - 2 * pad) * (v - low) / (high - low)
        return f"{x:.1f},{y:.1f}"

    parts = [f'<svg id="pgr-chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" role="img" aria-label="feedback PGR over time">']
    for level in (0.0, 1.0):
        y = xy(t0, level).split(",")[1]
        parts.append(f'<line x1="{pad}" x2="{width - pad - legend}" y1="{y}" y2="{y}" '
                     f'stroke="#bbb" stroke-dasharray="4 3"/><text x="4" y="{y}" font-size="11" '
                     f'dominant-baseline="middle">{level:.0f}</text>')
    for k, (agent, values) in enumerate(sorted(series.items())):
        color = COLORS[k % len(COLORS)]
        coords = [xy(t, v) for t, v in values]
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" '
                     f'points="{" ".join(coords)}"><title>{escape(agent)}</title></polyline>')
        parts += [f'<circle cx="{c.split(",")[0]}" cy="{c.split(",")[1]}" r="2.5" '
                  f'fill="{color}"/>' for c in coords]  # a lone submission shows too
        parts.append(f'<text x="{width - legend}" y="{pad + 14 * k}" font-size="11" '
                     f'fill="{color}">{escape(agent[:12])}</text>')
    parts.append(f'<text x="{width - legend - 40}" y="{height - 8}" font-size="11" '
                 f'fill="#777">time →</text></svg>')
    return Markup("".join(parts))
