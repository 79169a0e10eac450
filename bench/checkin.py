"""Check-in: `POST /api/v1/events/{id}/checkins` over HTTP next to the same SQL run directly.

    .venv/bin/python bench/checkin.py [--pg postgresql://root@127.0.0.1:5432/postgres]
        [--duration 6] [--repeats 3] [--clients 16] [--workers 2] [--passes 60000]

What it does, on PostgreSQL (a scratch database `admitone_bench_checkin`, created afresh):
  * seeds one event with one tier, `--passes` valid passes of paid orders, and a door_staff
    team member whose real access token (ES256, from the server's own dev secrets) signs
    every request;
  * starts `uvicorn --factory admitone.app:factory` in its own process group (worker off,
    access log off, realtime over PostgreSQL LISTEN/NOTIFY as in a multi-process
    deployment) and drives it from an asyncio client in this process with 16 keep-alive
    connections, each scanning distinct passes by short code:
      - saturation: every scanner sends its next scan as soon as the answer arrives;
      - paced: 200 scans/s in all (each scanner on a fixed 80 ms schedule), for p99;
  * runs two baselines in the same run, 16 threads with psycopg (auto-prepared statements):
      - `bare`: look the pass up by code, `INSERT INTO check_ins ... ON CONFLICT DO NOTHING
        RETURNING id`, COMMIT: the exactly-once core and nothing else;
      - `same_sql`: every statement the route issues (read from SQLAlchemy's log): the
        caller's roles at the event (one UNION), the pass with its tier, order, the default
        checkpoint and its passages there (one SELECT), the check-in INSERT ... ON CONFLICT,
        the scan-log INSERT, COMMIT (the broker's NOTIFYs are coalesced off the request
        path, a few per second, so the baseline sends none);
  * interleaves baselines and app per repeat, reports medians (scans/s, p50/p99, app CPU per
    scan from /proc of the uvicorn process tree, ratio to each baseline) and checks after
    every run that every scan was admitted exactly once (check-in rows = accepted answers =
    distinct passes).
Only loopback is used; the server is stopped by its own process-group id.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from harness import (
    create_database,
    libpq,
    proc_tree_cpu,
    quiesce,
    start_server,
    stop_all_on_sigterm,
    stop_server,
)
from ulid import ULID

ROOT = Path(__file__).resolve().parents[1]
DB_NAME = "admitone_bench_checkin"
PORT = int(os.environ.get("BENCH_PORT", "8742"))


# --- database -------------------------------------------------------------------------------


def seed(url: str, n_passes: int, var_dir: str) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from admitone.auth.models import AuthSession
    from admitone.auth.tokens import issue_access_token
    from admitone.checkins.service import default_checkpoint
    from admitone.core.db import Database, make_engine
    from admitone.core.ids import AuthSessionId
    from admitone.passes.codes import new_code
    from admitone.settings import Settings, with_dev_secrets
    from tests.factories import (
        add_team_member,
        make_event,
        make_order,
        make_organization,
        make_tier,
        make_user,
    )

    settings = with_dev_secrets(
        Settings(var_dir=Path(var_dir), env="dev", base_url=f"http://127.0.0.1:{PORT}")
    )
    engine = make_engine(url)
    db = Database(engine)
    with db.session() as s:
        owner = make_user(s)
        org = make_organization(s, owner)
        event = make_event(s, org)
        tier = make_tier(s, event, capacity=n_passes, price_amount=1000)
        order, item = make_order(s, event, tier, quantity=n_passes)
        staff = make_user(s, name="door")
        add_team_member(s, org, staff, "door_staff")
        sid = AuthSessionId.new()
        s.add(AuthSession(id=sid, user_id=staff.id, method="otp"))
        checkpoint = default_checkpoint(s, event.id)
        ids = {
            "event_id": event.id,
            "org_id": org.id,
            "tier_id": tier.id,
            "order_id": order.id,
            "item_id": item.id,
            "staff_id": staff.id,
            "checkpoint_id": checkpoint.id,
        }
    engine.dispose()
    codes = list({new_code() for _ in range(n_passes + 100)})[:n_passes]
    now = datetime.now(UTC)
    with (
        psycopg.connect(libpq(url)) as conn,
        conn.cursor() as cur,
        cur.copy(
            "COPY passes (id, event_id, order_id, order_item_id, tier_id, code, attendee_name,"
            " status, created_at, updated_at) FROM STDIN"
        ) as copy,
    ):
        for i, code in enumerate(codes):
            copy.write_row(
                (
                    f"pas_{ULID()}",
                    ids["event_id"],
                    ids["order_id"],
                    ids["item_id"],
                    ids["tier_id"],
                    code,
                    f"Guest {i}",
                    "valid",
                    now,
                    now,
                )
            )
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    token, _ = issue_access_token(settings, ids["staff_id"], sid)
    ids["token"] = token
    ids["codes"] = codes
    return ids


def reset(url: str) -> None:
    quiesce(url)
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("TRUNCATE check_in_scans, check_ins")
        conn.execute("VACUUM ANALYZE check_in_scans, check_ins")
        conn.execute("CHECKPOINT")


def check(url: str, accepted: int) -> dict[str, Any]:
    """Exactly once: one check-in row per accepted answer, each for a distinct pass."""
    quiesce(url)
    with psycopg.connect(libpq(url)) as conn:
        rows, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT pass_id) FROM check_ins"
        ).fetchone() or (0, 0)
    return {"rows": rows, "exactly_once": rows == distinct == accepted}


# --- baselines ------------------------------------------------------------------------------

BARE = [
    ("SELECT id FROM passes WHERE code = %(code)s", "pass"),
    (
        "INSERT INTO check_ins (id, event_id, pass_id, checkpoint_id, sequence, direction,"
        " scanned_at, device_id, scan_id, scanned_by_user_id, is_offline, created_at)"
        " VALUES (%(cid)s, %(event)s, %(pass)s, %(cpt)s, 1, 'in', now(), %(dev)s, NULL,"
        " %(user)s, false, now()) ON CONFLICT DO NOTHING RETURNING id",
        "admit",
    ),
]

SAME_SQL = [
    (
        "SELECT 'platform' AS kind, platform_roles.role, NULL::jsonb AS event_ids,"
        " NULL::varchar AS org_id, NULL::varchar AS ws_id"
        " FROM platform_roles WHERE platform_roles.user_id = %(user)s"
        " UNION ALL SELECT 'workspace', workspace_members.role, NULL, NULL, NULL"
        " FROM workspace_members WHERE workspace_members.workspace_id = (SELECT workspace_id"
        " FROM organizations WHERE id = (SELECT organization_id FROM events"
        " WHERE id = %(event)s)) AND workspace_members.user_id = %(user)s"
        " UNION ALL SELECT 'team', team_members.role, team_members.event_ids, NULL, NULL"
        " FROM team_members WHERE team_members.organization_id = (SELECT organization_id"
        " FROM events WHERE id = %(event)s) AND team_members.user_id = %(user)s"
        " UNION ALL SELECT 'scope', NULL, NULL, events.organization_id,"
        " organizations.workspace_id FROM events"
        " JOIN organizations ON organizations.id = events.organization_id"
        " WHERE events.id = %(event)s",
        None,
    ),
    (
        "SELECT passes.id, passes.event_id, passes.code, passes.tier_id, ticket_tiers.name,"
        " passes.status, passes.revoked_at, passes.attendee_name, passes.attendee_email,"
        " orders.status, checkpoints.id, checkpoints.tier_ids, checkpoints.session_id,"
        " checkpoints.opens_at, checkpoints.closes_at, checkpoints.allows_reentry,"
        " check_ins.id, check_ins.sequence, check_ins.direction, check_ins.scanned_at,"
        " check_ins.device_id, check_ins.undone_at FROM passes"
        " JOIN ticket_tiers ON ticket_tiers.id = passes.tier_id"
        " JOIN orders ON orders.id = passes.order_id"
        " LEFT OUTER JOIN checkpoints ON checkpoints.event_id = %(event)s"
        " AND checkpoints.is_default LEFT OUTER JOIN check_ins"
        " ON check_ins.pass_id = passes.id AND check_ins.checkpoint_id = checkpoints.id"
        " WHERE passes.code = %(code)s ORDER BY check_ins.sequence",
        "pass",
    ),
    (BARE[1][0], "admit"),
    (
        "INSERT INTO check_in_scans (id, event_id, checkpoint_id, pass_id, check_in_id, result,"
        " scan_id, device_id, scanned_by_user_id, scanned_at, is_offline, needs_review, flags,"
        " response, created_at) VALUES (%(sid)s, %(event)s, %(cpt)s, %(pass)s, %(cid)s,"
        " 'accepted', NULL, %(dev)s, %(user)s, now(), false, false, '[]', %(resp)s, now())",
        None,
    ),
]


def baseline(
    url: str,
    ids: dict[str, Any],
    statements: list[tuple[str, str | None]],
    clients: int,
    seconds: float,
) -> dict[str, Any]:
    codes: list[str] = ids["codes"]
    lats: list[float] = []
    accepted = [0]
    lock = threading.Lock()
    stop = time.perf_counter() + seconds
    response = json.dumps({"result": "accepted", "pass": {"tier_name": "Regular"}})

    def client(n: int) -> None:
        mine: list[float] = []
        ok = 0
        with psycopg.connect(libpq(url)) as conn:
            for code in codes[n::clients]:
                if time.perf_counter() >= stop:
                    break
                t0 = time.perf_counter()
                params = {
                    "code": code,
                    "event": ids["event_id"],
                    "org": ids["org_id"],
                    "user": ids["staff_id"],
                    "cpt": ids["checkpoint_id"],
                    "dev": f"d{n}",
                    "cid": f"chk_{ULID()}",
                    "sid": f"scn_{ULID()}",
                    "resp": response,
                }
                admitted = False
                for sql, role in statements:
                    cur = conn.execute(sql, params)
                    row = cur.fetchone() if role else None
                    if role == "pass":
                        params["pass"] = row[0] if row else None
                    elif role == "admit":
                        admitted = row is not None
                conn.commit()
                mine.append(time.perf_counter() - t0)
                ok += admitted
        with lock:
            lats.extend(mine)
            accepted[0] += ok

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    out = summarize(lats, wall, 0, None)
    out.update(check(url, accepted[0]))
    return out


# --- the app over HTTP ----------------------------------------------------------------------


async def _scanner(
    n: int,
    clients: int,
    ids: dict[str, Any],
    stop: float,
    interval: float | None,
    lats: list[float],
    status: dict[str, int],
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    path = f"/api/v1/events/{ids['event_id']}/checkins".encode()
    auth = f"Bearer {ids['token']}".encode()
    codes: list[str] = ids["codes"][n::clients]
    next_at = time.perf_counter() + (interval or 0) * n / clients
    try:
        for code in codes:
            if interval is not None:
                delay = next_at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                next_at += interval
            if time.perf_counter() >= stop:
                break
            body = json.dumps({"code": code, "device_id": f"scanner-{n}"}).encode()
            req = (
                b"POST "
                + path
                + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: "
                + auth
                + b"\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            t0 = time.perf_counter()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            code_http = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            payload = await reader.readexactly(length)
            result = json.loads(payload).get("result") if code_http == 200 else str(code_http)
            if result == "accepted":
                lats.append(time.perf_counter() - t0)
            status[result] = status.get(result, 0) + 1
    finally:
        writer.close()


def http_load(
    ids: dict[str, Any],
    clients: int,
    seconds: float,
    server_pid: int,
    rate: float | None,
    url: str | None,
) -> dict[str, Any]:
    lats: list[float] = []
    status: dict[str, int] = {}
    interval = clients / rate if rate else None

    async def main() -> float:
        stop = time.perf_counter() + seconds
        t0 = time.perf_counter()
        await asyncio.gather(
            *(_scanner(n, clients, ids, stop, interval, lats, status) for n in range(clients))
        )
        return time.perf_counter() - t0

    cpu0 = proc_tree_cpu(server_pid)
    wall = asyncio.run(main())
    cpu = proc_tree_cpu(server_pid) - cpu0
    errors = sum(v for k, v in status.items() if k != "accepted")
    out = summarize(lats, wall, errors, cpu)
    out["status"] = status
    if url is not None:
        out.update(check(url, status.get("accepted", 0)))
    return out


def summarize(lats: list[float], wall: float, errors: int, cpu: float | None) -> dict[str, Any]:
    lats.sort()
    n = len(lats)
    return {
        "scans": n,
        "scans_per_s": n / wall if wall else 0.0,
        "p50_ms": lats[n // 2] * 1000 if n else None,
        "p99_ms": lats[min(n - 1, int(n * 0.99))] * 1000 if n else None,
        "errors": errors,
        "cpu_ms_per_scan": cpu * 1000 / n if (n and cpu is not None) else None,
    }


# --- driver ---------------------------------------------------------------------------------


def main() -> None:
    stop_all_on_sigterm()
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", default="postgresql://root@127.0.0.1:5432/postgres")
    ap.add_argument("--duration", type=float, default=6)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--passes", type=int, default=60_000)
    ap.add_argument("--rate", type=float, default=200.0, help="paced mode: scans/s in all")
    ap.add_argument("--out", default=None, help="write the JSON result here too")
    args = ap.parse_args()

    var_dir = tempfile.mkdtemp(prefix="checkin-")
    url = create_database(args.pg, DB_NAME)
    ids = seed(url, args.passes, var_dir)
    raw: dict[str, list[dict[str, Any]]] = {}
    proc = start_server(url, args.workers, var_dir, PORT, REALTIME_BACKEND="postgres")
    try:
        for rep in range(args.repeats):
            for name, stmts in (("bare", BARE), ("same_sql", SAME_SQL)):
                reset(url)
                r = baseline(url, ids, stmts, args.clients, args.duration)
                raw.setdefault(name, []).append(r)
                print(rep, name, json.dumps(r), flush=True)
            reset(url)
            http_load(ids, args.clients, 1.0, proc.pid, None, None)  # warm-up
            reset(url)
            r = http_load(ids, args.clients, args.duration, proc.pid, None, url)
            raw.setdefault("app_saturation", []).append(r)
            print(rep, "app_saturation", json.dumps(r), flush=True)
            reset(url)
            r = http_load(ids, args.clients, args.duration, proc.pid, args.rate, url)
            raw.setdefault("app_paced", []).append(r)
            print(rep, "app_paced", json.dumps(r), flush=True)
    finally:
        stop_server(proc)
        shutil.rmtree(var_dir, ignore_errors=True)
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')

    def med(runs: list[dict[str, Any]], key: str) -> float | None:
        vals = [r[key] for r in runs if r.get(key) is not None]
        return round(statistics.median(vals), 2) if vals else None

    bare = med(raw["bare"], "scans_per_s") or 1.0
    same = med(raw["same_sql"], "scans_per_s") or 1.0
    rows = []
    for who, runs in raw.items():
        rate = med(runs, "scans_per_s") or 0.0
        rows.append(
            {
                "who": who,
                "scans_per_s": rate,
                "runs": [round(r["scans_per_s"]) for r in runs],
                "p50_ms": med(runs, "p50_ms"),
                "p99_ms": med(runs, "p99_ms"),
                "cpu_ms_per_scan": med(runs, "cpu_ms_per_scan"),
                "errors": sum(r["errors"] for r in runs),
                "exactly_once": all(r["exactly_once"] for r in runs),
                "ratio_to_bare": round(rate / bare, 3),
                "ratio_to_same_sql": round(rate / same, 3),
            }
        )
    result = {
        "clients": args.clients,
        "workers": args.workers,
        "duration_s": args.duration,
        "repeats": args.repeats,
        "paced_rate": args.rate,
        "rows": rows,
    }
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
