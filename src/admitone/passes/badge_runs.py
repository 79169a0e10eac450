"""Badge printing: one badge on demand, or a whole event as a job with progress.

Each printed badge is recorded as its own `badge_prints` row (and a single print in the
audit log as `badge.printed`): printing again adds another row, and none of it is a
check-in. Capabilities: a single badge needs `checkin.scan` (the registration desk), a run
`checkin.manage`; reading a run `event.read`.

The run job (`passes.badge_run {run_id}`) reads the passes in batches of 200 by id,
draws them onto A4 sheets written to a file under `var_dir/badges/`, records progress
(`done`) and the prints after each batch, then stores the PDF through the storage
integration (`badges/<run id>.pdf`) and marks the run `done`. A failure marks it `failed`
with the reason (no retry: ask for a new run).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from admitone.access.capabilities import Capability
from admitone.access.service import Scope, record_audit, require_capability
from admitone.core import jobs
from admitone.core.clock import utcnow
from admitone.core.errors import Invalid, NotFound
from admitone.core.ids import BadgePrintId, BadgeRunId, PassId
from admitone.core.jobs import JobContext
from admitone.events.models import TicketTier
from admitone.integrations.storage import storage_for
from admitone.passes import pdf
from admitone.passes import service as passes
from admitone.passes.badges import BadgeLayout, BadgeSheets
from admitone.passes.delivery.models import BadgePrint, BadgeRun, BadgeRunStatus, EventPassSettings
from admitone.passes.models import Pass
from admitone.settings import Settings

log = logging.getLogger(__name__)
RUN_JOB = "passes.badge_run"
BATCH = 200


class BadgeRunNotFound(NotFound):
    code = "badge_run_not_found"
    message = "No such badge run."


class UnknownTier(Invalid):
    code = "unknown_tier"
    message = "A tier id is not a tier of this event."


@dataclass(frozen=True)
class BadgeToPrint:
    ticket: pdf.Ticket
    layout: BadgeLayout


def event_layout(session: Session, event_id: str) -> dict[str, Any] | None:
    rules = session.get(EventPassSettings, event_id)
    return rules.badge_layout if rules else None


def print_badge(
    session: Session, settings: Settings, actor_user_id: str, pass_id: str
) -> BadgeToPrint:
    found = passes.get_pass(session, PassId(pass_id))
    require_capability(session, actor_user_id, Capability.CHECKIN_SCAN, Scope.event(found.event_id))
    session.execute(
        insert(BadgePrint).values(
            id=BadgePrintId.new(),
            pass_id=found.id,
            event_id=found.event_id,
            printed_by=actor_user_id,
            created_at=utcnow(),
        )
    )
    record_audit(
        session,
        actor_user_id=actor_user_id,
        action="badge.printed",
        target_type="pass",
        target_id=found.id,
    )
    [ticket] = pdf.tickets_for(session, settings, [found])
    return BadgeToPrint(ticket, BadgeLayout.parse(event_layout(session, found.event_id)))


def _passes_query(event_id: str, tier_ids: list[str] | None) -> Any:
    query = select(Pass).where(Pass.event_id == event_id, Pass.status == "valid")
    if tier_ids:
        query = query.where(Pass.tier_id.in_(tier_ids))
    return query


def start_badge_run(
    session: Session,
    *,
    actor_user_id: str,
    event_id: str,
    tier_ids: list[str] | None,
    layout: dict[str, Any] | None,
) -> BadgeRun:
    require_capability(session, actor_user_id, Capability.CHECKIN_MANAGE, Scope.event(event_id))
    BadgeLayout.parse(layout)  # refuse a bad layout now, not in the job
    if tier_ids:
        known = set(
            session.scalars(
                select(TicketTier.id).where(
                    TicketTier.event_id == event_id, TicketTier.id.in_(tier_ids)
                )
            )
        )
        if known != set(tier_ids):
            raise UnknownTier(field="tier_ids")
    total = session.scalar(
        select(func.count()).select_from(_passes_query(event_id, tier_ids).subquery())
    )
    run = BadgeRun(
        id=BadgeRunId.new(),
        event_id=event_id,
        requested_by=actor_user_id,
        status=BadgeRunStatus.QUEUED.value,
        tier_ids=tier_ids or None,
        layout=layout,
        total=int(total or 0),
        done=0,
    )
    session.add(run)
    session.flush()
    jobs.schedule(session, RUN_JOB, {"run_id": run.id})
    record_audit(
        session,
        actor_user_id=actor_user_id,
        action="badge_run.created",
        target_type="badge_run",
        target_id=run.id,
        after={"event_id": event_id, "tier_ids": tier_ids, "total": run.total},
    )
    return run


def get_badge_run(session: Session, actor_user_id: str, run_id: str) -> BadgeRun:
    run = session.get(BadgeRun, run_id)
    if run is None:
        raise BadgeRunNotFound()
    require_capability(session, actor_user_id, Capability.EVENT_READ, Scope.event(run.event_id))
    return run


def file_key(run_id: str) -> str:
    return f"badges/{run_id}.pdf"


# --- the job --------------------------------------------------------------------------------


def _begin(
    session: Session, run_id: str
) -> tuple[str, list[str] | None, dict[str, Any] | None, tuple[str, str]] | None:
    """Marks the run running; its event, tiers, layout and the fonts every name needs
    (read as a stream: a run's names are never held together)."""
    run = session.get(BadgeRun, run_id)
    if run is None or run.status != BadgeRunStatus.QUEUED.value:
        return None
    run.status = BadgeRunStatus.RUNNING.value
    layout = run.layout if run.layout is not None else event_layout(session, run.event_id)
    query = _passes_query(run.event_id, run.tier_ids).with_only_columns(Pass.attendee_name)
    names = session.scalars(query.execution_options(yield_per=BATCH))
    fonts = pdf.fonts_for(n or "" for n in names)
    names.close()
    return run.event_id, run.tier_ids, layout, fonts


def _batch(
    session: Session, settings: Settings, event_id: str, tier_ids: list[str] | None, after: str
) -> list[pdf.Ticket]:
    rows = session.scalars(
        _passes_query(event_id, tier_ids).where(Pass.id > after).order_by(Pass.id).limit(BATCH)
    )
    return pdf.tickets_for(session, settings, rows)


def _progress(session: Session, run_id: str, event_id: str, pass_ids: list[str]) -> None:
    now = utcnow()
    session.execute(
        insert(BadgePrint),
        [
            {
                "id": BadgePrintId.new(),
                "pass_id": pid,
                "event_id": event_id,
                "run_id": run_id,
                "created_at": now,
            }
            for pid in pass_ids
        ],
    )
    session.execute(
        update(BadgeRun)
        .where(BadgeRun.id == run_id)
        .values(done=BadgeRun.done + len(pass_ids), updated_at=now)
    )


def _finish(
    session: Session, run_id: str, status: BadgeRunStatus, key: str | None, error: str | None
) -> None:
    session.execute(
        update(BadgeRun)
        .where(BadgeRun.id == run_id)
        .values(
            status=status.value,
            file_key=key,
            error=error,
            finished_at=utcnow(),
            updated_at=utcnow(),
        )
    )


@jobs.job(RUN_JOB, max_attempts=1)
def run_badges(ctx: JobContext, /, **args: Any) -> None:
    run_id = str(args["run_id"])
    begun = ctx.db.mutation(_begin, run_id)
    if begun is None:
        return
    event_id, tier_ids, layout_raw, name_fonts = begun
    directory = ctx.settings.var_dir / "badges"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{run_id}.pdf"
    try:
        layout = BadgeLayout.parse(layout_raw)
        fonts = pdf.fonts_for([layout.title or "", layout.org_text or ""])
        fonts = pdf.TTF_FONTS if pdf.TTF_FONTS in (fonts, name_fonts) else fonts
        with path.open("wb") as out:
            sheets = BadgeSheets(out, layout, fonts, ctx.settings)
            after = ""
            while True:
                batch = ctx.db.query(_batch, ctx.settings, event_id, tier_ids, after)
                if not batch:
                    break
                for ticket in batch:
                    sheets.add(ticket)
                after = batch[-1].pass_id
                ctx.db.mutation(_progress, run_id, event_id, [t.pass_id for t in batch])
            sheets.close()
        key = file_key(run_id)
        storage_for(ctx.settings).put_file(key, path, "application/pdf")
    except Exception as exc:  # a run that fails says why, and is not retried
        log.exception("badge run %s failed", run_id)
        ctx.db.mutation(
            _finish, run_id, BadgeRunStatus.FAILED, None, f"{type(exc).__name__}: {exc}"[:2000]
        )
        return
    finally:
        if path.exists():
            os.unlink(path)
    ctx.db.mutation(_finish, run_id, BadgeRunStatus.DONE, key, None)
