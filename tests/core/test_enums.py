"""Every state enum and its CHECK in the migrated database allow exactly the same values.

`core.db.enum_check` registers each CHECK it makes with its enum (`ENUM_CHECKS`); this
reads every one of them back from the database the migrations built (SQLite's
`sqlite_master` SQL, PostgreSQL's `pg_constraint`), so a value added to an enum without a
migration (or the reverse) fails here."""

from __future__ import annotations

import re
from enum import StrEnum

import pytest
from sqlalchemy import Engine, text

from admitone.core.db import ENUM_CHECKS, NAMING_CONVENTION
from admitone.domains import load_models
from admitone.orders.models import AddonPer, OrderStatus
from admitone.passes.models import PassStatus
from admitone.payments.models import PaymentStatus, RefundStatus

load_models()

QUOTED = re.compile(r"'((?:[^']|'')*)'")


def _cases() -> list[tuple[str, str, type[StrEnum]]]:
    cases = []
    for check, states in ENUM_CHECKS:
        table = check.table.name
        name = str(check.name)
        if not name.startswith("ck_"):
            name = NAMING_CONVENTION["ck"] % {"table_name": table, "constraint_name": name}
        cases.append((table, name, states))
    return cases


CASES = _cases()


def constraint_sql(engine: Engine, table: str, name: str) -> str | None:
    """The text of one named CHECK as the database holds it (None when it is missing)."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            found = conn.scalar(
                text(
                    "SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c "
                    "JOIN pg_class t ON t.oid = c.conrelid "
                    "WHERE c.contype = 'c' AND c.conname = :name AND t.relname = :table"
                ),
                {"name": name, "table": table},
            )
            return str(found) if found is not None else None
        sql = conn.scalar(
            text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :table"),
            {"table": table},
        )
    if sql is None:
        return None
    # `CONSTRAINT <name> CHECK (...)` up to the next constraint or the end of the table
    match = re.search(
        rf'CONSTRAINT\s+"?{re.escape(name)}"?\s+CHECK\s*(.*?)(?=,\s*CONSTRAINT\s|,\s*FOREIGN\s|,\s*UNIQUE\s|,\s*PRIMARY\s|\)\s*$)',
        sql,
        re.S | re.I,
    )
    return match.group(1) if match else None


def allowed_values(definition: str) -> set[str]:
    return {v.replace("''", "'") for v in QUOTED.findall(definition)}


def test_the_registry_holds_the_order_payment_and_pass_states() -> None:
    registered = {states for _, _, states in CASES}
    assert {OrderStatus, AddonPer, PaymentStatus, RefundStatus, PassStatus} <= registered


@pytest.mark.parametrize(("table", "name", "states"), CASES, ids=[f"{t}.{n}" for t, n, _ in CASES])
def test_check_allows_exactly_the_enum(
    engine: Engine, table: str, name: str, states: type[StrEnum]
) -> None:
    definition = constraint_sql(engine, table, name)
    assert definition is not None, f"no CHECK {name} on {table} in the migrated database"
    assert allowed_values(definition) == {s.value for s in states}, definition


def test_the_parser_sees_a_value_the_enum_lacks() -> None:
    """The comparison can fail: a constraint with one more value is told apart."""
    pg = (
        "CHECK (((status)::text = ANY ((ARRAY['valid'::character varying, "
        "'lost'::character varying])::text[])))"
    )
    assert allowed_values(pg) == {"valid", "lost"} != {s.value for s in PassStatus}
    sqlite = "(status IN ('valid','revoked'))"
    assert allowed_values(sqlite) == {s.value for s in PassStatus}
