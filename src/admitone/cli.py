"""Command line: serve, worker, migrate, seed-demo, cron run, create-admin, check-config."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from typing import Annotated

import typer
import uvicorn

from admitone import domains
from admitone.core import jobs
from admitone.core.db import Database, make_engine
from admitone.core.http import RequestIdLogFilter
from admitone.integrations import moderation
from admitone.migrate import upgrade
from admitone.settings import ConfigProblem, Settings, load_settings, production_problems

app = typer.Typer(help="Admit One: event platform backend.", no_args_is_help=True)
cron_app = typer.Typer(help="Run crons by hand.", no_args_is_help=True)
app.add_typer(cron_app, name="cron")


def _setup_logging() -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdLogFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    )
    logging.basicConfig(level=os.environ.get("ADMITONE_LOG_LEVEL", "INFO"), handlers=[handler])
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _database() -> tuple[Database, object]:
    settings = load_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    domains.load_models()
    domains.load_jobs()
    return Database(make_engine(settings.resolved_database_url)), settings


@app.command()
def migrate() -> None:
    """Bring the database schema to the newest migration."""
    db, _ = _database()
    upgrade(db.bind)
    typer.echo("database is at head")


def _process_count(workers: str) -> int:
    """`auto`: one process per core (each has its own database threads and pool)."""
    if workers == "auto":
        return max(1, len(os.sched_getaffinity(0)))
    try:
        count = int(workers)
    except ValueError as exc:
        raise typer.BadParameter("a number of processes, or 'auto'") from exc
    if count < 1:
        raise typer.BadParameter("at least 1")
    return count


@app.command()
def serve(
    host: Annotated[str, typer.Option(envvar="ADMITONE_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="PORT")] = 8000,
    workers: Annotated[
        str, typer.Option(envvar="WEB_CONCURRENCY", help="processes, or 'auto' (one per core)")
    ] = "1",
    surface: Annotated[
        list[str] | None, typer.Option(help="api, ops, support, gateway, web")
    ] = None,
    graceful_seconds: Annotated[
        int, typer.Option(help="on SIGTERM, how long in-flight requests and streams may finish")
    ] = 25,
) -> None:
    """Serve the HTTP surfaces (all by default) and, embedded, the worker."""
    _setup_logging()
    if surface:
        os.environ["ADMITONE_SURFACES"] = ",".join(surface)
    uvicorn.run(
        "admitone.app:factory",
        factory=True,
        host=host,
        port=port,
        workers=_process_count(workers),
        log_config=None,
        proxy_headers=True,
        timeout_graceful_shutdown=graceful_seconds,
    )


@app.command("check-config")
def check_config(
    processes: Annotated[
        int, typer.Option(help="API processes that will share the database (pool sizing)")
    ] = 2,
) -> None:
    """Read this environment as production would and name every missing or unsafe setting.
    Exits 1 when something would refuse to start."""
    settings = Settings(env="test")  # every other setting from the environment, unchecked
    problems = production_problems(settings)
    problems += _pool_problems(settings, processes)
    for problem in problems:
        level = "MISSING" if problem.blocking else "warning"
        typer.echo(f"{level:8} {problem.setting}: {problem.message}")
    blocking = sum(p.blocking for p in problems)
    if not problems:
        typer.echo("ok: nothing missing for production")
    else:
        typer.echo(f"{blocking} to fix before production, {len(problems) - blocking} warning(s)")
    if blocking:
        raise typer.Exit(1)


def _pool_problems(settings: Settings, processes: int) -> list[ConfigProblem]:
    """Connections the processes may open (pool + overflow each, the worker's too) against
    the server's `max_connections`, when the database answers."""
    url = settings.database_url
    if not url.startswith(("postgres://", "postgresql")):
        return []
    try:
        engine = make_engine(url, pool_size=1, max_overflow=0)
        with engine.connect() as conn:
            limit = int(conn.exec_driver_sql("SHOW max_connections").scalar_one())
        engine.dispose()
    except Exception as exc:  # a report, not a crash: say what went wrong
        return [ConfigProblem("ADMITONE_DATABASE_URL", f"database not reachable: {exc}")]
    per_process = 40  # make_engine's pool_size 20 + max_overflow 20
    wanted = per_process * (processes + 1)
    if wanted > limit - 10:
        return [
            ConfigProblem(
                "ADMITONE_DATABASE_URL",
                f"{processes} API processes and a worker may open {wanted} connections; the "
                f"server allows {limit} (raise max_connections or use PgBouncer)",
                blocking=False,
            )
        ]
    return []


@app.command()
def worker() -> None:
    """Run jobs and crons until stopped."""
    _setup_logging()
    db, settings = _database()
    w = jobs.Worker(db, settings)
    moderation.log_startup_status(settings.moderation)  # type: ignore[attr-defined]
    # SIGTERM (a deploy, a scale-down): the job under way finishes, the claimed ones not yet
    # started go back to the queue, then the loop ends.
    signal.signal(signal.SIGTERM, lambda *_: w.stop())
    typer.echo(f"worker {w.worker_id} started")
    with contextlib.suppress(KeyboardInterrupt):
        w.run_forever()


@app.command("seed-demo")
def seed_demo() -> None:
    """Create a small demo (idempotent)."""
    from admitone import demo

    db, settings = _database()
    typer.echo(demo.seed(db, settings))


@app.command("create-admin")
def create_admin(email: str) -> None:
    """Make the user with EMAIL a superadmin (created if missing); safe to run again."""
    from email_validator import EmailNotValidError, validate_email

    from admitone.access.service import bootstrap_superadmin

    try:
        address = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        typer.echo(f"not an e-mail address: {exc}", err=True)
        raise typer.Exit(2) from exc
    db, _ = _database()
    user, granted = db.mutation(bootstrap_superadmin, address)
    state = "is now" if granted else "was already"
    typer.echo(f"{user.email} ({user.id}) {state} a superadmin")


@cron_app.command("run")
def cron_run(name: str) -> None:
    """Enqueue a cron now and run due jobs until the queue is empty."""
    _setup_logging()
    db, settings = _database()
    spec = jobs.registered_crons().get(name)
    if spec is None:
        typer.echo(f"no cron named {name!r}; known: {', '.join(jobs.registered_crons())}", err=True)
        raise typer.Exit(2)
    db.mutation(lambda s: jobs.schedule(s, spec.job, {"trigger": "cli"}))
    typer.echo(f"ran {jobs.drain(db, settings)} job(s)")


def main() -> None:
    app()
