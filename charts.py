"""Chart geometry for server-drawn SVG (templates/_charts.html draws it): no CDN, no script, no request.

Each function returns plain coordinates on a fixed canvas; the SVG's viewBox scales it to the page. Every
chart on a page is followed by a table of the same figures, so a screen reader (and a printout) has the
numbers as text. Values may be int, float or Decimal; they are turned to float for the geometry only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

Number = int | float | Decimal

COLOURS = 9  # static/app.css has .series-0 … .series-8
PARETO_THRESHOLD = 0.8  # the "vital few": the causes that make up the first 80 % (Juran's Pareto principle)
LABEL_CHARS = 8  # a bar's label under the axis is cut to this many characters; its <title> has the whole of it


def _peak(values: Iterable[Number]) -> float:
    return max([1.0] + [float(value) for value in values])


def _ticks(peak: float, y_of) -> list[tuple[str, float]]:
    """Bottom, middle and top of the value axis, in whole numbers once the peak is 2 or more (counts, yuan)."""
    values = [peak * share if peak < 2 else round(peak * share) for share in (0, 0.5, 1)]
    return [(f"{value:,.0f}" if value == int(value) else f"{value:.1f}", y_of(value)) for value in values]


def line_chart(labels: Sequence[str], series: dict[str, Sequence[Number]], width: int = 640, height: int = 260) -> dict:
    """One polyline per series over the same x labels, the largest series first (it gets the first colour).

    Returns the canvas (width, height, left, bottom, top, right, plot_right, peak), ``lines`` [{name, points [(x, y)], series,
    colour}], ``ticks`` [(text, y)] for the value axis and ``labels`` [(x, text)] for the x axis.
    """
    left, bottom, top, right = 40, 30, 10, 10
    peak = _peak(value for values in series.values() for value in values)
    plot_height = height - bottom - top
    step = (width - left - right) / max(1, len(labels) - 1)

    def y_of(value: Number) -> float:
        return round(height - bottom - float(value) * plot_height / peak, 1)

    lines = []
    ordered = sorted(series.items(), key=lambda item: -sum(float(value) for value in item[1]))
    for position, (name, values) in enumerate(ordered):
        points = [(round(left + index * step, 1), y_of(value)) for index, value in enumerate(values)]
        lines.append({"name": name, "points": points, "series": list(values), "colour": position % COLOURS})
    return {"width": width, "height": height, "left": left, "bottom": bottom, "top": top, "right": right, "peak": peak,
            "plot_right": width - right, "lines": lines, "ticks": _ticks(peak, y_of),
            "labels": [(round(left + index * step, 1), label) for index, label in enumerate(labels)]}


def pareto_order(items: Iterable[tuple[str, Number]]) -> list[tuple[str, Number, float]]:
    """Items by value, the largest first (ties keep the given order), each with its cumulative share of the
    total (0–1; the last is exactly 1). Items of value 0 are left out; nothing to count gives []."""
    ordered = sorted((item for item in items if item[1] > 0), key=lambda item: -item[1])
    total = sum(value for _label, value in ordered)
    rows, running = [], 0
    for label, value in ordered:
        running += value
        rows.append((label, value, float(running / total)))
    return rows


def pareto_chart(items: Iterable[tuple[str, Number]], width: int = 640, height: int = 320,
                 threshold: float = PARETO_THRESHOLD) -> dict:
    """A Pareto chart: bars by value, largest first, on the left axis; the cumulative share as a line on the
    right axis (0–100 %); and a dashed line at ``threshold`` (80 %). A bar is ``vital`` when the causes before
    it make up less than the threshold: fixing the vital ones removes most of the total.

    Returns the canvas (width, height, left, right, bottom, top, base_y, plot_right, peak), ``bars``
    [{label, short, value, cumulative, x, y, w, h, centre, vital}], ``line`` [(x, y)] through the bars'
    tops of the cumulative share, ``ticks`` and ``percent_ticks`` [(text, y)], ``threshold`` and
    ``threshold_y``.
    """
    left, right, top, bottom = 48, 44, 10, 90  # the bottom holds the slanted labels
    rows = pareto_order(items)
    peak = _peak(value for _label, value, _share in rows)
    plot_right = width - right
    plot_height = height - bottom - top
    base_y = height - bottom
    band = (plot_right - left) / max(1, len(rows))

    def y_of(value: Number) -> float:
        return round(base_y - float(value) * plot_height / peak, 1)

    def y_of_share(share: float) -> float:
        return round(base_y - share * plot_height, 1)

    bars, line, before = [], [], 0.0
    for index, (label, value, cumulative) in enumerate(rows):
        x = left + index * band + band * 0.15
        centre = round(left + index * band + band / 2, 1)
        bars.append({"label": label, "short": label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…",
                     "value": value, "cumulative": cumulative, "x": round(x, 1), "y": y_of(value),
                     "w": round(band * 0.7, 1), "h": round(base_y - y_of(value), 1), "centre": centre,
                     "vital": before < threshold})
        line.append((centre, y_of_share(cumulative)))
        before = cumulative
    return {"width": width, "height": height, "left": left, "right": right, "top": top, "bottom": bottom,
            "base_y": base_y, "plot_right": plot_right, "peak": peak, "bars": bars, "line": line,
            "ticks": _ticks(peak, y_of),
            "percent_ticks": [(f"{share * 100:.0f}%", y_of_share(share)) for share in (0, 0.5, 1)],
            "threshold": threshold, "threshold_y": y_of_share(threshold)}
