"""``custodia search``, ``custodia reindex`` and ``custodia stats``."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperGroup

from cli.charts import bar_charts_svg
from cli.common import console, errors, fail, run_as_user
from service.access.policy import Permission, require
from service.custody.actions import Action
from service.runtime import Scope
from service.search.indexer import IndexCheck
from service.search.service import SearchRequest, SearchResult, SearchService
from service.search.statistics import Statistics, StatisticsService


class _QueryByDefault(TyperGroup):
    """``custodia search WORDS`` runs a query; ``custodia search check`` is a subcommand."""

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["query", *args]
        return super().resolve_command(ctx, args)


search_app = typer.Typer(
    cls=_QueryByDefault, help="Search testimonies in your cases.", no_args_is_help=True
)


@search_app.command("query")
def query(
    text: Annotated[str, typer.Argument(help='Words, "phrases", AND/OR/NOT, field:word.')],
    category: Annotated[
        list[str] | None, typer.Option(help="Category code (with children).")
    ] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="YYYY-MM-DD")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="YYYY-MM-DD")] = None,
    place: Annotated[list[str] | None, typer.Option(help="Incident place.")] = None,
    facility: Annotated[list[str] | None, typer.Option(help="Facility.")] = None,
    institution: Annotated[list[str] | None, typer.Option(help="Perpetrator institution.")] = None,
    case: Annotated[list[str] | None, typer.Option(help="Case code.")] = None,
    sort: Annotated[str, typer.Option(help="relevance or date.")] = "relevance",
    page: Annotated[int, typer.Option(help="Page number.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Search (a custody event); prints hits with highlighted snippets and facet counts."""
    try:
        request = SearchRequest(
            q=text,
            categories=tuple(category or ()),
            date_from=date.fromisoformat(date_from) if date_from else None,
            date_to=date.fromisoformat(date_to) if date_to else None,
            places=tuple(place or ()),
            facilities=tuple(facility or ()),
            institutions=tuple(institution or ()),
            cases=tuple(case or ()),
            sort="date" if sort == "date" else "relevance",
            page=page,
        )
    except ValueError as error:
        raise fail(f"invalid date: {error}", 2) from None
    result = run_as_user(lambda s: SearchService(s).search(request))
    if as_json:
        typer.echo(json.dumps(asdict(result), ensure_ascii=False, indent=2, default=str))
        return
    _print_result(result)


def _print_result(result: SearchResult) -> None:
    console.print(f"[bold]{result.total}[/] testimonies match (page {result.page}).")
    for hit in result.hits:
        categories = sorted({c for i in hit.incidents for c in i["categories"]})
        console.print(
            f"\n[bold]{hit.testimony_id}[/]  case {hit.case}  witness {hit.witness_pseudonym}  "
            f"score {hit.score:.2f}\n  {', '.join(categories)}",
            highlight=False,
        )
        for name, parts in hit.snippets.items():
            text = "".join(
                f"[reverse]{escape(p.text)}[/]" if p.highlight else escape(p.text) for p in parts
            )
            console.print(f"  {name}: …{text}…", highlight=False)
    for facet, counts in result.facets.items():
        if counts:
            shown = ", ".join(f"{k} ({v})" for k, v in list(counts.items())[:8])
            console.print(f"[dim]{facet}:[/] {shown}", highlight=False)


@search_app.command("check")
def check() -> None:
    """Compare the search index with the database; exit 1 if they differ."""

    def work(scope: Scope) -> IndexCheck:
        assert scope.principal is not None
        require(scope.principal, Permission.KEY_MANAGE, object_type="search")
        return scope.runtime.search_indexer.check()

    result = run_as_user(work)
    table = Table("check", "value", title="Search index")
    table.add_row("testimonies in the database", str(result.expected))
    table.add_row("documents in the index", str(result.indexed))
    table.add_row("missing from the index", str(len(result.missing)))
    table.add_row("in the index but not the database", str(len(result.unexpected)))
    console.print(table)
    for testimony_id in result.missing[:20]:
        console.print(f"missing: {testimony_id}")
    if not result.ok:
        raise fail("the index differs from the database: run 'custodia reindex'.")


def reindex() -> None:
    """Rebuild the search index from the database (administrators)."""
    with Progress(
        TextColumn("reindexing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
    ) as progress:
        task = progress.add_task("reindex", total=None)

        def work(scope: Scope) -> int:
            assert scope.principal is not None
            require(scope.principal, Permission.KEY_MANAGE, object_type="search")
            count = scope.runtime.search_indexer.rebuild(
                progress=lambda done, total: progress.update(task, completed=done, total=total)
            )
            scope.custody.append(
                Action.SEARCH_REINDEX,
                actor=scope.principal,
                object_type="search",
                object_id=None,
                details={"documents": count},
            )
            return count

        count = run_as_user(work)
    console.print(f"Indexed {count} testimonies.")


def stats(
    case: Annotated[list[str] | None, typer.Option(help="Only these case codes.")] = None,
    chart: Annotated[Path | None, typer.Option(help="Write an SVG chart to this file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Incident counts for your cases as tables (and an SVG chart with --chart)."""
    result = run_as_user(lambda s: StatisticsService(s).statistics(tuple(case or ())))
    if as_json:
        typer.echo(json.dumps(asdict(result), ensure_ascii=False, indent=2))
        return
    _print_stats(result)
    if chart is not None:
        top_level = {k: v for k, v in result.by_category.items() if "." not in k}
        chart.write_text(
            bar_charts_svg(
                [
                    ("Incidents by year", {str(k): v for k, v in result.by_year.items()}),
                    ("Incidents by category", top_level),
                    ("Incidents by place", result.by_place),
                    ("Incidents by perpetrator institution", result.by_institution),
                    ("Incidents by involvement", result.by_involvement),
                ]
            ),
            encoding="utf-8",
        )
        console.print(f"Chart written to {chart}.")


def _print_stats(result: Statistics) -> None:
    console.print(f"{result.incidents} incidents in {result.testimonies} testimonies.")
    years = sorted(result.by_year)
    table = Table(
        "category", *[str(y) for y in years], "total", title="Incidents by category and year"
    )
    for code, by_year in result.by_category_year.items():
        table.add_row(
            code, *[str(by_year.get(y, "")) for y in years], str(result.by_category[code])
        )
    console.print(table)
    for title, data in (
        ("place", result.by_place),
        ("facility", result.by_facility),
        ("perpetrator institution", result.by_institution),
        ("involvement", result.by_involvement),
    ):
        _counts_table(title, data)


def _counts_table(title: str, data: dict[str, Any]) -> None:
    table = Table(title, "incidents", title=f"By {title}")
    for key, count in data.items():
        table.add_row(str(key), str(count))
    console.print(table)
