"""Small, dependency-free SVG bar charts for ``custodia stats --chart``."""

from __future__ import annotations

from html import escape

FONT = "'Noto Sans KR', 'Apple SD Gothic Neo', 'Malgun Gothic', sans-serif"
BAR = "#35618f"


def _panel(
    title: str, data: dict[str, int], top: float, width: int, limit: int
) -> tuple[str, float]:
    rows = list(data.items())[:limit]
    label_width = 260
    bar_space = width - label_width - 80
    widest = max((count for _, count in rows), default=1) or 1
    parts = [
        f'<text x="10" y="{top + 20}" font-size="16" font-weight="bold">{escape(title)}</text>'
    ]
    y = top + 34
    for label, count in rows:
        length = bar_space * count / widest
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 13}" font-size="12" text-anchor="end">'
            f"{escape(label[:40])}</text>"
            f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="16" fill="{BAR}">'
            f"<title>{escape(label)}: {count}</title></rect>"
            f'<text x="{label_width + length + 6:.1f}" y="{y + 13}" font-size="12">{count}</text>'
        )
        y += 22
    if not rows:
        parts.append(f'<text x="10" y="{y + 13}" font-size="12">(no incidents)</text>')
        y += 22
    return "".join(parts), y + 12


def bar_charts_svg(
    panels: list[tuple[str, dict[str, int]]], *, width: int = 760, limit: int = 15
) -> str:
    """One SVG with a horizontal bar chart per (title, counts) panel, in order."""
    body: list[str] = []
    top = 0.0
    for title, data in panels:
        svg, top = _panel(title, data, top, width, limit)
        body.append(svg)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{int(top) + 10}" '
        f'font-family="{FONT}" role="img">'
        f'<rect width="100%" height="100%" fill="white"/>{"".join(body)}</svg>\n'
    )
