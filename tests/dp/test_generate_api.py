"""Generating DPs through the API: real photos in, real pictures out; owners, refusals,
verified attendees, the gallery and deletion everywhere."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from admitone.core.db import Database
from admitone.core.files import File
from admitone.core.ids import FileId, GeneratedDpId
from admitone.dp import errors
from admitone.dp.models import GeneratedDp
from admitone.dp.service.generation import plan_generation, record_dp
from admitone.settings import Settings
from tests.dp.conftest import World, decoded, generate, photo
from tests.dp.render.images import FRAME_COLOUR, jpeg_claiming, png_header_only
from tests.factories import auth_headers, make_pass, make_user


def _close(a: tuple[int, ...], b: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=False))


def test_anonymous_generate_returns_a_token_that_reads_the_real_picture(
    client: TestClient, world: World
) -> None:
    r = generate(client, world.campaign["id"], world.template["id"], data=photo(orientation=6))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "visible"
    assert body["verified"] is False
    # The classifier's verdict comes from a job: not cleared for the gallery until then.
    assert body["moderation"] == {
        "verdict": "allow",
        "reasons": [],
        "classifier": "pending",
        "cleared": False,
    }
    assert body["dp_token"]
    assert (
        body["share_url"]
        == f"http://testserver/dp/s/{body['referral_code']}?ref={body['referral_code']}"
    )
    image_path = body["image_url"].removeprefix("http://testserver")
    assert client.get(image_path).status_code == 401
    assert client.get(image_path, headers={"X-DP-Token": "x" * 43}).status_code == 404
    got = client.get(image_path, headers={"X-DP-Token": body["dp_token"]})
    assert got.status_code == 200
    picture = decoded(got.content)
    assert picture.format == "JPEG"
    assert picture.size == (400, 400)
    # The frame's green border around the slot, the photo inside the hole (turned upright:
    # red above blue), and no EXIF (no GPS) in what is served.
    assert _close(picture.getpixel((10, 10)), FRAME_COLOUR)
    assert _close(picture.getpixel((200, 60)), (220, 30, 30))
    assert _close(picture.getpixel((200, 220)), (30, 30, 220))
    assert not picture.getexif()
    owner = client.get(f"/api/v1/dps/{body['id']}", headers={"X-DP-Token": body["dp_token"]})
    assert owner.status_code == 200
    assert owner.json()["id"] == body["id"]
    assert "dp_token" not in owner.json() or owner.json()["dp_token"] is None


def test_the_same_token_keeps_an_anonymous_callers_dps_together(
    client: TestClient, world: World
) -> None:
    first = generate(client, world.campaign["id"], world.template["id"]).json()
    token = first["dp_token"]
    second = client.post(
        f"/api/v1/dp-campaigns/{world.campaign['id']}/generate",
        files={"file": ("me.jpg", photo(), "image/jpeg")},
        data={"template_id": world.template["id"], "texts": '{"name": "Ada"}'},
        headers={"X-DP-Token": token},
    ).json()
    assert second["dp_token"] == token
    for dp in (first, second):
        assert (
            client.get(f"/api/v1/dps/{dp['id']}", headers={"X-DP-Token": token}).status_code == 200
        )
    stats = client.get(f"/api/v1/dp-campaigns/{world.campaign['id']}/stats", headers=world.headers)
    assert stats.json()["generations"] == 2
    assert stats.json()["supporters"] == 1


def test_refusals_of_the_photo(client: TestClient, world: World, settings: Settings) -> None:
    c, t = world.campaign["id"], world.template["id"]
    not_image = generate(client, c, t, data=b"%PDF-1.4 not a photo at all")
    assert not_image.status_code == 415
    assert not_image.json()["code"] == "unsupported_image_type"
    bomb = generate(client, c, t, data=png_header_only(60_000, 60_000))
    assert bomb.status_code == 422
    assert bomb.json()["code"] == "image_too_large"
    claims = generate(client, c, t, data=jpeg_claiming(20_000, 20_000))
    assert claims.status_code == 422
    assert claims.json()["code"] == "image_too_large"
    too_big = generate(client, c, t, data=b"\xff\xd8" + b"\0" * (settings.dp.max_upload_bytes + 10))
    assert too_big.status_code == 413
    assert too_big.json()["code"] == "file_too_large"
    missing = generate(client, c, t, texts={"title": "Speaker"})
    assert missing.status_code == 422
    assert missing.json()["code"] == "missing_text"
    bad_texts = client.post(
        f"/api/v1/dp-campaigns/{c}/generate",
        files={"file": ("me.jpg", photo(), "image/jpeg")},
        data={"template_id": t, "texts": "[1, 2]"},
    )
    assert bad_texts.status_code == 422
    assert bad_texts.json()["code"] == "invalid_texts"
    stats = client.get(f"/api/v1/dp-campaigns/{c}/stats", headers=world.headers).json()
    assert stats["generations"] == 0


def test_verified_only_campaign_needs_a_valid_pass_and_prefills_the_name(
    client: TestClient, world: World, db: Database, settings: Settings
) -> None:
    c = world.campaign["id"]
    r = client.patch(
        f"/api/v1/dp-campaigns/{c}", json={"verified_only": True}, headers=world.headers
    )
    assert r.status_code == 200
    assert r.json()["verified_only"] is True
    with db.session() as s:
        holder = make_user(s)
        make_pass(s, world.event, world.tier, holder_user_id=holder.id, attendee_name="Chidi Okeke")
        revoked = make_user(s)
        make_pass(s, world.event, world.tier, holder_user_id=revoked.id, status="revoked")
        unpaid = make_user(s)
        make_pass(
            s, world.event, world.tier, holder_user_id=unpaid.id,
            order_overrides={"status": "pending", "paid_at": None},
        )  # fmt: skip
        stranger = make_user(s)
        holder_h, revoked_h, unpaid_h, stranger_h = (
            auth_headers(s, settings, u) for u in (holder, revoked, unpaid, stranger)
        )
    anonymous = generate(client, c, world.template["id"])
    assert anonymous.status_code == 403
    assert anonymous.json()["code"] == "pass_required"
    for headers in (revoked_h, unpaid_h, stranger_h):
        refused = generate(client, c, world.template["id"], headers=headers)
        assert refused.status_code == 403
        assert refused.json()["code"] == "pass_required"
    slug = world.campaign["slug"]
    assert client.get(f"/api/v1/public/dp-campaigns/{slug}").json()["prefill"] is None
    public = client.get(f"/api/v1/public/dp-campaigns/{slug}", headers=holder_h).json()
    assert public["prefill"] == {"name": "Chidi Okeke"}
    assert public["verified_only"] is True
    made = generate(client, c, world.template["id"], texts={}, headers=holder_h)
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["verified"] is True
    assert body["texts"]["name"] == "Chidi Okeke"
    assert body.get("dp_token") is None
    mine = client.get("/api/v1/me/dps", headers=holder_h).json()
    assert [d["id"] for d in mine["items"]] == [body["id"]]
    assert client.get(f"/api/v1/dps/{body['id']}", headers=stranger_h).status_code == 404


def test_gallery_shows_only_opted_in_dps_and_deletion_removes_them_everywhere(
    client: TestClient, world: World, run_jobs: object, settings: Settings
) -> None:
    c, t, slug = world.campaign["id"], world.template["id"], world.campaign["slug"]
    shown = generate(client, c, t, share_to_hub=True).json()
    private = generate(client, c, t, share_to_hub=False).json()
    run_jobs()  # type: ignore[operator]  # the classifier's verdicts
    gallery = client.get(f"/api/v1/public/dp-campaigns/{slug}/gallery").json()
    assert [i["id"] for i in gallery["items"]] == [shown["id"]]
    image = client.get(gallery["items"][0]["image_url"].removeprefix("http://testserver"))
    assert image.status_code == 200
    assert decoded(image.content).size == (400, 400)
    # A DP not in the gallery is still public through its link.
    assert client.get(f"/api/v1/public/dps/{private['id']}/image").status_code == 200

    share_path = f"/dp/s/{shown['referral_code']}"
    assert client.get(share_path).status_code == 200
    token = {"X-DP-Token": shown["dp_token"]}
    assert client.delete(f"/api/v1/dps/{shown['id']}").status_code == 401
    other = {"X-DP-Token": "another-callers-token-0123456789abcdef"}
    assert client.delete(f"/api/v1/dps/{shown['id']}", headers=other).status_code == 404
    assert client.delete(f"/api/v1/dps/{shown['id']}", headers=token).status_code == 204
    assert client.get(f"/api/v1/public/dp-campaigns/{slug}/gallery").json()["items"] == []
    assert client.get(f"/api/v1/public/dps/{shown['id']}/image").status_code == 404
    assert client.get(f"/api/v1/dps/{shown['id']}", headers=token).status_code == 404
    removed = client.get(share_path)
    assert removed.status_code == 410
    assert "This DP was removed" in removed.text
    assert f"/api/v1/public/dps/{shown['id']}/image" not in removed.text
    assert 'property="og:image"' not in removed.text
    run_jobs()  # type: ignore[operator]
    blobs = list((settings.var_dir / "files" / "dp" / "outputs").rglob("*.jpg"))
    assert [b.stem for b in blobs] == [private["id"]]


def test_a_closed_campaign_takes_no_new_dps(client: TestClient, world: World) -> None:
    c = world.campaign["id"]
    assert client.post(f"/api/v1/dp-campaigns/{c}/close", headers=world.headers).status_code == 200
    r = generate(client, c, world.template["id"])
    assert r.status_code == 409
    assert r.json()["code"] == "dp_campaign_not_open"


def test_heic_photo_is_accepted(client: TestClient, world: World) -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    heic = photo(fmt="HEIF")
    r = generate(client, world.campaign["id"], world.template["id"], data=heic)
    assert r.status_code == 201, r.text
    body = r.json()
    got = client.get(f"/api/v1/dps/{body['id']}/image", headers={"X-DP-Token": body["dp_token"]})
    picture = decoded(got.content)
    assert picture.format == "JPEG"
    assert _close(picture.getpixel((200, 60)), (220, 30, 30))


def test_a_campaign_closed_while_a_dp_renders_refuses_the_record(
    client: TestClient, world: World, db: Database
) -> None:
    c = world.campaign["id"]
    plan = db.query(plan_generation, c, world.template["id"], None, {})
    assert client.post(f"/api/v1/dp-campaigns/{c}/close", headers=world.headers).status_code == 200
    file_id = FileId.new()
    output = File(id=file_id, storage_key=f"dp/outputs/x/{file_id}.jpg",
                  content_type="image/jpeg", size_bytes=1, sha256="0" * 64)  # fmt: skip
    dp = GeneratedDp(
        id=GeneratedDpId.new(), campaign_id=plan.campaign_id, template_id=plan.template.id,
        supporter_key="t:x", texts={}, output_file_id=file_id, width=1, height=1,
        status="visible", moderation_verdict="allow", moderation_reasons=[],
    )  # fmt: skip
    with pytest.raises(errors.CampaignNotOpen):
        db.mutation(record_dp, output, dp)


def test_the_word_lists_decide_a_dps_fate_in_one_place(client: TestClient, world: World) -> None:
    c, t, slug = world.campaign["id"], world.template["id"], world.campaign["slug"]
    blocked = generate(client, c, t, texts={"name": "B1tch"}, share_to_hub=True)
    assert blocked.status_code == 422
    assert blocked.json()["code"] == "text_blocked"
    assert blocked.json()["reasons"] == ["blocked_word"]
    doubtful = generate(client, c, t, texts={"name": "Anal Ysis"}, share_to_hub=True)
    assert doubtful.status_code == 201, doubtful.text
    body = doubtful.json()
    assert body["status"] == "pending_review"
    assert body["moderation"]["verdict"] == "review"
    # Private to its owner until a moderator decides: not in the gallery, no public image.
    assert client.get(f"/api/v1/public/dp-campaigns/{slug}/gallery").json()["items"] == []
    assert client.get(f"/api/v1/public/dps/{body['id']}/image").status_code == 404
    own = client.get(f"/api/v1/dps/{body['id']}", headers={"X-DP-Token": body["dp_token"]})
    assert own.status_code == 200
    town = generate(client, c, t, texts={"name": "Scunthorpe United"}, share_to_hub=True)
    assert town.status_code == 201
    assert town.json()["status"] == "visible"
