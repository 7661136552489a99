"""``custodia drafts purge-expired``: the maintenance path for interview drafts.

Drafts are also deleted when any officer opens the drafts pages; this command is for cron,
so a draft nobody returns to still goes once it expires. Drafts are never read here.
"""

from __future__ import annotations

import typer

from cli.common import console, run_as_user
from service.drafts.service import DraftService

drafts_app = typer.Typer(help="Interview drafts (administrators).", no_args_is_help=True)


@drafts_app.command("purge-expired")
def purge_expired() -> None:
    """Delete every interview draft past CUSTODIA_DRAFT_TTL_HOURS; each deletion is recorded."""
    purged = run_as_user(lambda s: DraftService(s).purge_expired())
    console.print(f"deleted {len(purged)} expired draft(s)")
    for draft_id in purged:
        console.print(f"  {draft_id}")
