"""The results page's charts: a `results.Row`'s series over a `results.Period` laid out as a
server-rendered SVG line chart (the template draws it inline: no script, no chart library)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .results import CHARTED, DAY, Period, Row


@dataclass(frozen=True)
class Line:
    name: str
    colour: str
    values: list[int]
    points: str  # "x,y x,y ..." for <polyline points>


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    top: int
    plot_width: int
    plot_height: int
    lines: list[Line]
    y_ticks: list[tuple[float, int]]  # (y, value)
    x_ticks: list[tuple[float, str]]  # (x, label)
    maximum: int

    @classmethod
    def of(cls, row: Row, period: Period, width: int = 640, height: int = 200,
           charted: Mapping[str, str] = CHARTED) -> Chart:
        left, top, right, bottom = 44, 10, 10, 26
        plot_w, plot_h = width - left - right, height - top - bottom
        points = period.points
        maximum = max([1, *(v for column in charted for v in row.series[column])])
        scale = _nice(maximum)

        def x(i: int) -> float:
            return left + (plot_w * i / (len(points) - 1) if len(points) > 1 else plot_w / 2)

        def y(v: float) -> float:
            return top + plot_h - plot_h * v / scale

        lines = [  # drawn last to first: scans and texts on top where lines meet
            Line(column, colour, row.series[column],
                 " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(row.series[column])))
            for column, colour in reversed(charted.items())
        ]
        y_ticks = [(y(scale * k / 4), round(scale * k / 4)) for k in range(5) if float(scale * k / 4).is_integer()]
        every = max(1, len(points) // 6)
        fmt = ("%H:%M" if period.step < DAY and period.end - period.start <= DAY
               else "%b %d" if period.step >= DAY else "%b %d %Hh")
        x_ticks = [(x(i), points[i].strftime(fmt)) for i in range(0, len(points), every)]
        return cls(width, height, left, top, plot_w, plot_h, lines, y_ticks, x_ticks, maximum)


def _nice(maximum: int) -> int:
    """The y axis' top: the smallest of 4, 8, 20, 40, 80, 200, ... at or above `maximum` (ticks in quarters)."""
    scale = 4
    while scale < maximum:
        scale = scale * 2 if str(scale)[0] in "4" else scale * 5 // 2 if str(scale)[0] == "8" else scale * 2
    return scale
