"""The worked example of docs/architecture.md: a checkpoint added and changed through the
route, refused without the capability, and audited in the organization's log."""

from __future__ import annotations

from tests.checkins.conftest import Door


def test_manager_adds_and_changes_a_checkpoint_and_both_are_audited(door: Door) -> None:
    url = f"/api/v1/events/{door.event.id}/checkpoints"
    resp = door.client.post(url, json={"name": "Side door"}, headers=door.manager)
    assert resp.status_code == 201, resp.text
    cid = resp.json()["id"]
    refused = door.client.post(url, json={"name": "x"}, headers=door.staff)
    assert refused.status_code == 403
    assert refused.json()["code"] == "capability_required"
    patched = door.client.patch(
        f"/api/v1/checkpoints/{cid}", json={"name": "East door"}, headers=door.manager
    )
    assert patched.status_code == 200
    unchanged = door.client.patch(
        f"/api/v1/checkpoints/{cid}", json={"name": "East door"}, headers=door.manager
    )
    assert unchanged.status_code == 200

    audit = door.client.get(
        f"/api/v1/organizations/{door.org.id}/audit", headers=door.owner
    ).json()["items"]
    mine = [e for e in audit if e["target_id"] == cid]
    # Newest first; the no-op change wrote nothing.
    assert [e["action"] for e in mine] == ["checkpoint.updated", "checkpoint.created"]
    assert mine[1]["after"]["name"] == "Side door"
    assert mine[0]["before"]["name"] == "Side door"
    assert mine[0]["after"]["name"] == "East door"
