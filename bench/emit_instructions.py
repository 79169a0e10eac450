"""What emitting webhook events adds to an order, in CPU instructions (load-proof): the same
place-and-pay transaction as `bench/emit_cost.py` (`checkout.placing._place`), counted by
valgrind's callgrind with collection on only inside the measured loop, without an endpoint
and with one subscribed to `*`, one process each.

    .venv/bin/python bench/emit_instructions.py [--orders 100]
        [--pg postgresql://root@127.0.0.1:5432/test] [--src path/to/other/src]

The database (migrated, one event and tier) is made once outside valgrind; each mode then
runs in its own `valgrind --tool=callgrind --toggle-collect=starmap_next` process (the loop
is driven by `itertools.starmap`, so only the orders are counted; warm-up orders first).
`--src` runs another checkout's code (e.g. the commit before a change, from `git
archive`) against the same database, for a before/after in one run. Instruction counts do
not move with the box's load: a few tenths of a percent between runs.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _setup(pg: str | None, tmp: Path) -> dict[str, Any]:
    from pydantic import SecretStr  # noqa: F401  (imported here: the parent stays light)
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from admitone import domains
    from admitone.core.db import Database, make_engine, normalize_url
    from admitone.migrate import upgrade
    from tests.factories import make_event, make_organization, make_tier, make_user

    domains.load_models()
    drop_name = None
    if pg:
        admin_url = make_url(normalize_url(pg))
        drop_name = f"admitone_bench_emiti_{uuid.uuid4().hex[:8]}"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{drop_name}"'))
        admin.dispose()
        url = admin_url.set(database=drop_name).render_as_string(hide_password=False)
    else:
        url = f"sqlite:///{tmp / 'bench.db'}"
    engine = make_engine(url)
    upgrade(engine)
    db = Database(engine)
    with db.session() as s:
        owner = make_user(s)
        org = make_organization(s, owner)
        event = make_event(s, org, currency="NGN", reservation_minutes=30)
        tier = make_tier(s, event, capacity=10**9, max_per_order=10)
        found = {"org": org.id, "event": event.id, "tier": tier.id, "owner": owner.id}
    engine.dispose()
    return {"url": url, "drop": drop_name, "var": str(tmp), **found}


def _drop(pg: str, name: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from admitone.core.db import normalize_url

    admin = create_engine(make_url(normalize_url(pg)), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _child(world: dict[str, Any], endpoint: bool, orders: int) -> None:
    """Runs inside valgrind: warm up, then `orders` orders through `itertools.starmap`."""
    from pydantic import SecretStr
    from sqlalchemy import delete

    from admitone import domains
    from admitone.checkout import placing
    from admitone.core import outbox
    from admitone.core.db import Database, make_engine
    from admitone.core.jobs import Job
    from admitone.orders.schemas import OrderIn
    from admitone.settings import Settings
    from admitone.webhooks import service
    from admitone.webhooks.models import WebhookEndpoint

    domains.load_models()
    domains.load_jobs()
    engine = make_engine(world["url"])
    db = Database(engine)
    settings = Settings(
        env="dev",
        var_dir=Path(world["var"]),
        secret_key=SecretStr("bench-secret-key-0123456789abcdef"),
        cron_secret=SecretStr("bench"),
        run_worker_in_process=False,
    )
    with db.session() as s:
        s.execute(delete(WebhookEndpoint))
        s.execute(delete(Job))
        if endpoint:
            service.create_endpoint(
                s,
                settings,
                world["owner"],
                world["org"],
                url="https://hooks.example.com/x",
                events=["*"],
                description=None,
            )
    outbox.forget_subscriptions()

    def body(i: int) -> OrderIn:
        return OrderIn.model_validate(
            {
                "event_id": world["event"],
                "items": [{"tier_id": world["tier"], "quantity": 1 + i % 4}],
                "buyer": {"email": f"b{i}@example.com", "name": "Ada Obi"},
            }
        )

    def place(b: OrderIn) -> None:
        db.mutation(placing._place, settings, b, None, "dev", None)

    for i in range(20):
        place(body(1_000_000 + i))
    bodies = [(body(i),) for i in range(orders)]
    for _ in itertools.starmap(place, bodies):
        pass
    engine.dispose()


def _count(world_file: Path, endpoint: bool, orders: int, src: str | None, keep: str | None) -> int:
    """The instructions of `orders` orders in one valgrind process (its output file kept in
    `keep` for callgrind_annotate, if given)."""
    tag = f"{'endpoint' if endpoint else 'none'}-{abs(hash(src)) % 10**6 if src else 'this'}"
    with tempfile.TemporaryDirectory() as out:
        env = dict(os.environ)
        if src:
            env["PYTHONPATH"] = src
        cmd = [
            "valgrind",
            "--tool=callgrind",
            "--toggle-collect=starmap_next",
            f"--callgrind-out-file={keep or out}/cg-{tag}.out",
            sys.executable,
            __file__,
            "--child",
            str(world_file),
            "--endpoint" if endpoint else "--no-endpoint",
            "--orders",
            str(orders),
        ]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
        found = re.search(r"Collected : (\d+)", done.stderr)
        if found is None:
            raise RuntimeError(done.stderr[-2000:])
        return int(found.group(1))


def main() -> None:
    sys.path.insert(0, str(ROOT))
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=100)
    ap.add_argument("--pg", default=None)
    ap.add_argument("--src", action="append", default=[], help="another src/ to compare")
    ap.add_argument("--only-src", action="store_true", help="measure only the --src trees")
    ap.add_argument("--keep", default=None, help="a folder to keep callgrind's files in")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--endpoint", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--no-endpoint", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(json.loads(Path(args.child).read_text()), args.endpoint, args.orders)
        return
    with tempfile.TemporaryDirectory() as tmp:
        world = _setup(args.pg, Path(tmp))
        world_file = Path(tmp) / "world.json"
        world_file.write_text(json.dumps(world))
        try:
            results = {}
            for src in [*([] if args.only_src else [None]), *args.src]:
                none = _count(world_file, False, args.orders, src, args.keep)
                with_endpoint = _count(world_file, True, args.orders, src, args.keep)
                results[src or "this checkout"] = {
                    "instructions_per_order_no_endpoint": none // args.orders,
                    "instructions_per_order_with_endpoint": with_endpoint // args.orders,
                    "added": round(with_endpoint / none - 1, 4),
                }
            print(
                json.dumps(
                    {"orders": args.orders, "results": results, "load_average": os.getloadavg()},
                    indent=1,
                )
            )
        finally:
            if world["drop"] and args.pg:
                _drop(args.pg, world["drop"])


if __name__ == "__main__":
    main()
