"""Badges: one on demand (each print recorded, never a check-in) and a whole event as a
job with progress whose PDF of A4 sheets of 8 is read back (page count, QR codes)."""

from __future__ import annotations

import io
from collections.abc import Callable

import pypdf
import pytest
from fastapi.testclient import TestClient
from reportlab.pdfbase import pdfmetrics
from sqlalchemy import func, select

from admitone.checkins.models import CheckIn
from admitone.core.db import Database
from admitone.passes.badges import BadgeLayout, InvalidBadgeLayout
from admitone.passes.delivery.models import BadgePrint
from admitone.passes.models import Pass
from admitone.passes.pdf import fit_size
from admitone.passes.service import pass_qr
from admitone.settings import Settings
from tests.checkins.conftest import Door, build_door
from tests.passes.documents import pdf_pages_text, pdf_qr_codes
from tests.passes.logo_images import logo_png


@pytest.fixture
def door(client: TestClient, db: Database, settings: Settings) -> Door:
    return build_door(client, db, settings)


def _count(db: Database, model: type, **where: object) -> int:
    def read(s: object) -> int:
        query = select(func.count()).select_from(model)
        for k, v in where.items():
            query = query.where(getattr(model, k) == v)
        return int(s.scalar(query) or 0)  # type: ignore[attr-defined]

    return db.query(read)


def test_a_badge_is_printed_on_demand_and_every_print_is_recorded(
    client: TestClient, db: Database, door: Door, settings: Settings
) -> None:
    p = door.new_pass(attendee_name="Maximilian von Hohenberg-Schwarz der Dritte")
    url = f"/support/v1/passes/{p.id}/badge.pdf"
    first = client.get(url, headers=door.staff)
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/pdf"
    [text] = pdf_pages_text(first.content)
    assert "Maximilian von Hohenberg-Schwarz der Dritte" in text
    assert door.org.name in text
    assert "REGULAR" in text
    assert pdf_qr_codes(first.content, scale=3) == [pass_qr(settings, p)]
    assert client.get(url, headers=door.staff).status_code == 200  # a reprint
    assert _count(db, BadgePrint, pass_id=p.id) == 2
    assert _count(db, CheckIn, pass_id=p.id) == 0
    assert client.get(url, headers=door.stranger).status_code == 404
    assert client.get(url, headers=door.viewer).json()["code"] == "capability_required"


def test_names_shrink_to_fit_the_badge() -> None:
    name = "Oluwaseun Okonkwo-Williamson von Hohenberg-Schwarz"
    size = fit_size(name, "Helvetica-Bold", 30, 200)
    assert size < 30
    assert pdfmetrics.stringWidth(name, "Helvetica-Bold", size) <= 200.01
    assert fit_size("Li Wei", "Helvetica-Bold", 30, 200) == 30


def test_a_badge_run_prints_sheets_of_eight_with_progress(
    client: TestClient, db: Database, door: Door, settings: Settings, run_jobs: Callable[[], int]
) -> None:
    vips = [door.new_pass(door.vip, attendee_name=f"VIP {i:02d}") for i in range(10)]
    door.new_pass(door.vip, status="revoked")  # not printed
    resp = client.post(
        f"/support/v1/events/{door.event.id}/badges",
        json={"tier_ids": [door.vip.id], "layout": {"accent": "#aa3300", "title": "Day One"}},
        headers=door.manager,
    )
    assert resp.status_code == 202, resp.text
    run = resp.json()
    assert (run["status"], run["total"], run["done"], run["download_url"]) == (
        "queued",
        10,
        0,
        None,
    )
    run_jobs()
    polled = client.get(f"/support/v1/badge-runs/{run['id']}", headers=door.viewer).json()
    assert (polled["status"], polled["done"]) == ("done", 10)
    assert polled["download_url"].endswith(f"/support/v1/badge-runs/{run['id']}/badges.pdf")
    pdf = client.get(f"/support/v1/badge-runs/{run['id']}/badges.pdf", headers=door.viewer)
    assert pdf.status_code == 200
    pages = pdf_pages_text(pdf.content)
    assert len(pages) == 2  # 10 badges: a full sheet of 8 and one of 2
    assert pages[0].count("Day One") == 8
    qrs = {pass_qr(settings, p) for p in vips}
    first_sheet = pdf_qr_codes(pdf.content, page=0, scale=3)
    assert len(first_sheet) == 8
    assert set(first_sheet) <= qrs
    assert set(first_sheet) | set(pdf_qr_codes(pdf.content, page=1, scale=3)) == qrs
    assert _count(db, BadgePrint, run_id=run["id"]) == 10
    assert _count(db, CheckIn) == 0


def test_badge_run_refusals(client: TestClient, door: Door) -> None:
    url = f"/support/v1/events/{door.event.id}/badges"
    assert client.post(url, json={}, headers=door.staff).json()["code"] == "capability_required"
    assert client.post(url, json={}, headers=door.stranger).status_code == 404
    bad_layout = client.post(url, json={"layout": {"accent": "red"}}, headers=door.manager)
    assert bad_layout.json()["code"] == "invalid_badge_layout"
    unknown = client.post(url, json={"layout": {"font": "Comic"}}, headers=door.manager)
    assert unknown.json()["code"] == "invalid_badge_layout"
    other_tier = "tir_01JD3ZZZZZZZZZZZZZZZZZZZZZ"
    assert (
        client.post(url, json={"tier_ids": [other_tier]}, headers=door.manager).status_code == 422
    )
    missing = client.get(
        "/support/v1/badge-runs/bdr_01JD3ZZZZZZZZZZZZZZZZZZZZZ", headers=door.owner
    )
    assert missing.json()["code"] == "badge_run_not_found"
    with pytest.raises(InvalidBadgeLayout):
        BadgeLayout.parse({"show_tier": "yes"})


def test_pass_settings_are_set_by_the_organizer(
    client: TestClient, db: Database, door: Door
) -> None:
    url = f"/support/v1/events/{door.event.id}/pass-settings"
    assert client.get(url, headers=door.viewer).json() == {
        "transfers_enabled": True,
        "transfer_cutoff_minutes": 0,
        "badge_layout": None,
        "tier_transfer_cutoffs": {},
    }
    body = {
        "transfers_enabled": True,
        "transfer_cutoff_minutes": 120,
        "badge_layout": {"title": "X"},
    }
    assert client.put(url, json=body, headers=door.owner).json() == body | {
        "tier_transfer_cutoffs": {}
    }
    assert client.put(url, json=body, headers=door.viewer).status_code == 403
    bad = client.put(url, json=body | {"transfer_cutoff_minutes": -1}, headers=door.owner)
    assert bad.status_code == 422
    assert _count(db, Pass) == 3


def _logo_images(body: bytes, page: int) -> int:
    return len(pypdf.PdfReader(io.BytesIO(body)).pages[page].images)


def test_a_long_run_is_streamed_in_parts_with_the_organizations_logo(
    client: TestClient, door: Door, settings: Settings, run_jobs: Callable[[], int]
) -> None:
    """70 badges: more than one part of 64 joined into one file (9 sheets), each sheet
    with the organization's logo, every QR readable on the last part's sheet."""
    upload = client.put(
        f"/api/v1/organizations/{door.org.id}/logo",
        files={"file": ("logo.png", logo_png(), "image/png")},
        headers=door.owner,
    )
    assert upload.status_code == 200, upload.text
    made = [door.new_pass(door.vip, attendee_name=f"Guest {i:02d}") for i in range(70)]
    resp = client.post(
        f"/support/v1/events/{door.event.id}/badges",
        json={"tier_ids": [door.vip.id]},
        headers=door.manager,
    )
    assert resp.status_code == 202, resp.text
    run_jobs()
    body = client.get(f"/support/v1/badge-runs/{resp.json()['id']}/badges.pdf", headers=door.viewer)
    assert body.status_code == 200
    pages = pdf_pages_text(body.content)
    assert len(pages) == 9
    assert sum(page.count("Guest ") for page in pages) == 70
    assert _logo_images(body.content, 0) >= 1
    assert _logo_images(body.content, 8) >= 1
    qrs = {pass_qr(settings, p) for p in made}
    last = pdf_qr_codes(body.content, page=8, scale=3)
    assert len(last) == 6
    assert set(last) <= qrs
    # The single badge carries the logo too.
    single = client.get(f"/support/v1/passes/{made[0].id}/badge.pdf", headers=door.staff)
    assert _logo_images(single.content, 0) == 1
    assert pdf_qr_codes(single.content, page=0, scale=3) == [pass_qr(settings, made[0])]
