"""Orders per minute through the incident, with the key moments marked: the geometry of an SVG
bar chart (the report's template draws it, so every label is escaped there) and a text version
for the Markdown report."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from incident.after.moments import Moment
from incident.scope import SHIPPED, Decision
from incident.timeutil import parse_iso

WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 44, 24, 34, 54
# Moments this long after the window's start still fit on the chart; later ones are listed under it.
REACH = timedelta(hours=6)


@dataclass
class Chart:
    bin_minutes: int
    start: datetime
    end: datetime
    counts: list[tuple[datetime, int, int]]  # (bin start, orders, of which shipped)
    peak: int
    bars: list[dict] = field(default_factory=list)
    y_ticks: list[dict] = field(default_factory=list)
    x_ticks: list[dict] = field(default_factory=list)
    markers: list[dict] = field(default_factory=list)
    later: list[Moment] = field(default_factory=list)
    window: dict = field(default_factory=dict)
    width: int = WIDTH
    height: int = HEIGHT
    plot: dict = field(default_factory=dict)

    @property
    def unit(self) -> str:
        return "minute" if self.bin_minutes == 1 else f"{self.bin_minutes} minutes"


def _bin_minutes(span: timedelta) -> int:
    minutes = span.total_seconds() / 60
    for size, fits in ((1, 180), (5, 900), (15, 2880)):
        if minutes <= fits:
            return size
    return 60


def build(decisions: list[Decision], moments: list[Moment], window_start: datetime, window_end: datetime,
          tz_name: str | None) -> Chart:
    placed = {}
    for d in decisions:  # an order counts once, in the minute it was placed; shipped if any line shipped
        if d.line.purchase_date:
            at, shipped = placed.get(d.line.order_id, (parse_iso(d.line.purchase_date), False))
            placed[d.line.order_id] = (at, shipped or d.bucket == SHIPPED)
    start = window_start.replace(second=0)
    end = max([window_end] + [at for at, _ in placed.values()]
              + [m.at for m in moments if m.at and start <= m.at <= start + REACH])
    size = _bin_minutes(end - start)
    bins = max(1, math.ceil((end - start).total_seconds() / (size * 60)))
    orders, lost = [0] * bins, [0] * bins
    for at, shipped in placed.values():
        index = min(bins - 1, max(0, int((at - start).total_seconds() // (size * 60))))
        orders[index] += 1
        lost[index] += shipped
    chart = Chart(size, start, start + timedelta(minutes=size * bins),
                  [(start + timedelta(minutes=size * i), orders[i], lost[i]) for i in range(bins)], max(orders))
    _draw(chart, moments, window_start, window_end, tz_name)
    return chart


def _nice_step(peak: int) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000):
        if peak / step <= 5:
            return step
    return 10 ** len(str(peak))


def _draw(chart: Chart, moments: list[Moment], window_start: datetime, window_end: datetime, tz_name: str | None) -> None:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    chart.plot = {"x": LEFT, "y": TOP, "w": plot_w, "h": plot_h, "bottom": TOP + plot_h}
    span = (chart.end - chart.start).total_seconds()
    step = _nice_step(max(chart.peak, 1))
    top = max(step, math.ceil(max(chart.peak, 1) / step) * step)

    def x_of(at: datetime) -> float:
        return round(LEFT + plot_w * (at - chart.start).total_seconds() / span, 1)

    def y_of(count: int) -> float:
        return round(TOP + plot_h - plot_h * count / top, 1)

    width = plot_w / len(chart.counts)
    for at, count, shipped in chart.counts:
        if count:
            x = round(x_of(at) + width * 0.1, 1)
            chart.bars.append({"x": x, "w": round(max(width * 0.8, 1), 1), "y": y_of(count),
                               "h": round(y_of(0) - y_of(count), 1), "count": count, "shipped": shipped,
                               "shipped_y": y_of(shipped), "shipped_h": round(y_of(0) - y_of(shipped), 1),
                               "title": f"{_clock(at, tz_name)}: {count} orders" + (f", {shipped} shipped" if shipped else "")})
    chart.y_ticks = [{"y": y_of(value), "label": str(value)} for value in range(0, top + 1, step)]
    every = max(1, math.ceil(len(chart.counts) / 6))
    chart.x_ticks = [{"x": x_of(at), "label": _clock(at, tz_name)} for i, (at, _, _) in enumerate(chart.counts)
                     if i % every == 0] + [{"x": x_of(chart.end), "label": _clock(chart.end, tz_name)}]
    chart.window = {"x": x_of(max(window_start, chart.start)), "w": round(x_of(min(window_end, chart.end))
                                                                          - x_of(max(window_start, chart.start)), 1)}
    number = 0
    for moment in moments:
        if moment.at is None:
            continue
        number += 1
        if chart.start <= moment.at <= chart.end:
            chart.markers.append({"x": x_of(moment.at), "number": number, "label": moment.label,
                                  "y": TOP - 6 - 12 * (len(chart.markers) % 2)})
        else:
            chart.later.append(moment)


def _clock(at: datetime, tz_name: str | None) -> str:
    return f"{at.astimezone(ZoneInfo(tz_name)) if tz_name else at:%H:%M}"


def text_bars(chart: Chart, tz_name: str | None, width: int = 40) -> list[str]:
    """The chart as lines of text, for Markdown."""
    lines = []
    for at, count, shipped in chart.counts:
        if not count:
            continue
        bar = "#" * max(1, round(width * count / max(chart.peak, 1)))
        lines.append(f"{_clock(at, tz_name)}  {count:>4}  {bar}" + (f"  ({shipped} shipped)" if shipped else ""))
    return lines
