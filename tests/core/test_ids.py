"""Typed, prefixed ids: one prefix per table; the API rejects the wrong table's id."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

from admitone.core.http import install_error_handlers
from admitone.core.ids import EventId, PrefixedId, UserId, all_prefixes


def test_new_ids_carry_their_prefix_and_a_ulid() -> None:
    eid = EventId.new()
    assert eid.startswith("evt_")
    assert len(eid) == 30
    assert EventId.parse(eid) == eid
    assert EventId.new() > eid or EventId.new() != eid


def test_a_duplicate_prefix_fails_at_import() -> None:
    with pytest.raises(TypeError, match="evt"):

        class Clash(PrefixedId, prefix="evt"): ...


def test_every_table_in_the_design_has_a_prefix() -> None:
    wanted = {
        "usr",
        "prl",
        "wsp",
        "wsm",
        "org",
        "tmm",
        "inv",
        "evt",
        "ses",
        "tir",
        "ord",
        "oit",
        "pay",
        "pas",
        "chk",
        "cpt",
        "dpt",
        "dpg",
        "ntf",
        "rel",
        "job",
        "fil",
    }
    assert wanted <= set(all_prefixes())


def test_pydantic_rejects_an_id_of_another_table() -> None:
    class Body(BaseModel):
        event_id: EventId

    assert Body(event_id=EventId.new()).event_id.startswith("evt_")
    with pytest.raises(ValidationError, match="evt_"):
        Body(event_id=UserId.new())
    with pytest.raises(ValidationError):
        Body(event_id="evt_not-a-ulid")


def test_a_path_id_of_the_wrong_table_is_a_422_problem() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/events/{event_id}")
    def show(event_id: EventId) -> dict[str, str]:
        return {"id": event_id}

    client = TestClient(app)
    good = EventId.new()
    assert client.get(f"/events/{good}").json() == {"id": good}
    bad = client.get(f"/events/{UserId.new()}")
    assert bad.status_code == 422
    assert bad.json()["code"] == "validation_error"
    assert bad.json()["errors"][0]["type"] == "wrong_id"


def test_new_ulid_is_python_ulids_text_from_the_same_generator() -> None:
    import os
    from unittest import mock

    import ulid
    from ulid import ULID

    from admitone.core.ids import new_ulid

    generator = ulid.default_generator
    for step in range(200):
        timestamp, randomness = 1_700_000_000_000 + step * 7919, os.urandom(10)
        with (
            mock.patch.object(generator, "clock", return_value=timestamp),
            mock.patch.object(generator, "randomness_source", return_value=randomness),
        ):
            generator.policy.prev_timestamp = 0
            ours = new_ulid()
            generator.policy.prev_timestamp = 0
            theirs = str(ULID())
        assert ours == theirs
    # monotonic within a millisecond, as ULID() is: consecutive ids sort in creation order
    made = [new_ulid() for _ in range(2000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)
