"""`calcinosis knowledge list|validate|diff`: the knowledge editors' tools."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

import calcinosis
from calcinosis.core.knowledge_diff import diff_knowledge
from calcinosis.errors import KnowledgeError


def register(app: typer.Typer) -> None:
    """Add the knowledge commands to the `knowledge` sub-app."""
    app.command("list")(list_knowledge)
    app.command("validate")(validate)
    app.command("diff")(diff)


def list_knowledge(
    directory: Annotated[Path | None, typer.Argument(help="Knowledge directory.")] = None,
) -> None:
    """List the knowledge base's version, rules with their citations, and thresholds."""
    kb = calcinosis.load_knowledge(directory)
    console = Console()
    console.print(
        f"Knowledge {kb.version} ({kb.date}): {len(kb.rules)} rules, "
        f"{len(kb.concepts)} concepts, {len(kb.analytes)} analytes, "
        f"{len(kb.thresholds)} thresholds, {len(kb.citations)} citations"
    )
    table = Table("rule", "cites", show_lines=False)
    for rule in sorted(kb.rules.values(), key=lambda r: r.id):
        table.add_row(rule.id, ", ".join(rule.citations))
    console.print(table)
    limits = Table("threshold", "value", "unit", "cites")
    for t in sorted(kb.thresholds.values(), key=lambda t: t.id):
        limits.add_row(t.id, f"{t.value:g}", t.unit, ", ".join(t.citations))
    console.print(limits)


def validate(
    directory: Annotated[Path | None, typer.Argument(help="Knowledge directory.")] = None,
) -> None:
    """Validate a knowledge directory; exit 2 naming file, field and reason if it is invalid."""
    from calcinosis.core.orders import load_orders
    from calcinosis.screening.engine import load_views
    from calcinosis.screening.narrowing import NarrowingError, narrowing
    from calcinosis.screening.policy import load_policy as load_screening_policy
    from calcinosis.web.cdshooks.policy import load_policy

    kb = calcinosis.load_knowledge(directory)
    # The CDS Hooks card policy, the orderable codes and the screening policy, views and
    # narrowing are checked against the rest.
    load_orders(kb)
    load_policy(kb)
    load_screening_policy(kb)
    load_views(kb)
    try:
        narrowing(kb)
    except NarrowingError as exc:
        raise KnowledgeError("rules/", "(screening narrowing)", str(exc)) from exc
    where = str(directory) if directory is not None else "shipped knowledge"
    typer.echo(
        f"{where}: valid (version {kb.version}, {len(kb.rules)} rules, "
        f"{len(kb.citations)} citations)"
    )


def diff(
    old: Annotated[Path, typer.Argument(help="The earlier knowledge directory.")],
    new: Annotated[Path, typer.Argument(help="The later knowledge directory.")],
) -> None:
    """Show added, removed and changed rules, thresholds, codes, synonyms and citations."""
    changes = diff_knowledge(calcinosis.load_knowledge(old), calcinosis.load_knowledge(new))
    if not changes:
        typer.echo("no differences")
        return
    for change in changes:
        detail = f"  {change.detail}" if change.detail else ""
        typer.echo(f"{change.change:8} {change.kind:9} {change.key}{detail}")
