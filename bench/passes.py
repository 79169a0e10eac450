"""Pass documents next to the bare library calls they wrap, in the same run.

    .venv/bin/python bench/passes.py [--n 200] [--rounds 5] [--badges 1000]

- signed `.pkpass` (pass.json, images, manifest, PKCS#7 signature, zip; `issue.pkpass`)
  vs the bare `cryptography` PKCS#7 signing of the same manifest (target <= 1.5x);
- Google save link (`issue.google_save_url`) vs a bare PyJWT RS256 encode of the same
  claims with the same loaded key (target <= 1.5x);
- ticket PDF (`pdf.render_tickets`, one pass) with the pass's QR cached, and cold
  (target <= 10 ms);
- 1,000 badges on A4 sheets of 8 (`badges.BadgeSheets`, QR cache cleared) vs a bare
  reportlab + segno loop drawing the same badges, as in reference/bench/media/bench_pdf.py
  (target <= 1.1x);
- the badge writer's peak memory at two sizes (flat = streamed): the growth of the
  process's peak RSS in a forked child (200 and 2,000 badges), and tracemalloc's peak
  (100 and 400: tracemalloc makes drawing ~10x slower).

Rounds interleave the measured and the baseline so load drift on the box hits both; the
ratios are medians of per-round ratios.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import segno
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from pydantic import SecretStr
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen import canvas

from admitone.core.ids import EventId, PassId
from admitone.integrations.wallet.apple import manifest_of
from admitone.integrations.wallet.keys import apple_material, ensure_dev_chain, google_key
from admitone.passes import badges, pdf
from admitone.passes.codes import new_code, sign_qr
from admitone.passes.wallet import issue
from admitone.passes.wallet.content import (
    bundled_images,
    google_class,
    google_object,
    pass_json,
)
from admitone.settings import Settings, WalletSettings

SECRET = b"bench-secret-0123456789abcdef012"
NAMES = [
    "Adaeze Okonkwo-Williamson",
    "Li Wei",
    "José Ñúñez",
    "Maximilian von Hohenberg",
    "Zoë Brontë",
]


def ticket(i: int) -> pdf.Ticket:
    """A pass as the database would give it, with a real signed QR payload."""
    start = datetime(2026, 11, 20, 8, tzinfo=UTC)
    pass_id, event_id, code = PassId.new(), EventId.new(), new_code()
    return pdf.Ticket(
        pass_id=pass_id,
        event_id=event_id,
        event_title="PyCon Lagos 2026",
        organization="Python Nigeria",
        starts_at=start,
        ends_at=start + timedelta(hours=8),
        timezone="Africa/Lagos",
        venue="Landmark Centre, Victoria Island",
        attendee=NAMES[i % len(NAMES)],
        tier=["Regular", "VIP", "Speaker"][i % 3],
        code=code,
        qr=sign_qr(SECRET, pass_id=pass_id, event_id=event_id, code=code),
        status="valid",
    )


def timed(fn: Callable[[int], object], n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - start) / n * 1000


def paired(
    ours: Callable[[int], object], bare: Callable[[int], object], n: int
) -> tuple[float, float, float, float]:
    """ms per call of `ours` and `bare`, called in turn (wall clock, then thread CPU time):
    on a box loaded by other processes the wall clock of a ~1 ms call is mostly waiting for
    a core, which CPU time leaves out."""
    wall_o = wall_b = cpu_o = cpu_b = 0.0
    for i in range(n):
        w, c = time.perf_counter(), time.thread_time()
        ours(i)
        w2, c2 = time.perf_counter(), time.thread_time()
        bare(i)
        w3, c3 = time.perf_counter(), time.thread_time()
        wall_o, cpu_o = wall_o + w2 - w, cpu_o + c2 - c
        wall_b, cpu_b = wall_b + w3 - w2, cpu_b + c3 - c2
    return tuple(x / n * 1000 for x in (wall_o, wall_b, cpu_o, cpu_b))  # type: ignore[return-value]


def bare_badges(tickets: list[pdf.Ticket], out: io.BufferedWriter | io.BytesIO) -> None:
    """The reference loop (bench_pdf.py's reportlab A4x8): segno matrix, one rect per run."""
    c = canvas.Canvas(out, pagesize=A4, pageCompression=1)
    w, h = A4[0] / 2, A4[1] / 4
    for i, t in enumerate(tickets):
        slot = i % 8
        x, y = (slot % 2) * w, A4[1] - (slot // 2 + 1) * h
        m_ = min(w, h)
        c.setLineWidth(0.5)
        c.setFillColorRGB(0.1, 0.2, 0.5)
        c.rect(x, y + h - 0.16 * h, w, 0.16 * h, fill=1, stroke=0)
        c.setFillColorRGB(1, 1, 1)
        c.setFont("Helvetica-Bold", 0.07 * m_)
        c.drawCentredString(x + w / 2, y + h - 0.105 * h, t.event_title)
        c.setFillColorRGB(0, 0, 0)
        size, max_w = 0.11 * m_, w - 10 * mm
        width = pdfmetrics.stringWidth(t.attendee, "Helvetica-Bold", size)
        if width > max_w:
            size *= max_w / width
        c.setFont("Helvetica-Bold", size)
        c.drawCentredString(x + w / 2, y + h * 0.70, t.attendee)
        c.setFont("Helvetica", 0.045 * m_)
        c.drawCentredString(x + w / 2, y + h * 0.63, t.organization)
        c.drawCentredString(x + w / 2, y + h * 0.03, t.tier.upper())
        m = segno.make_qr(t.qr, error="m").matrix
        n = len(m) + 8
        side = min(w * 0.9, h * 0.52)
        cell = side / n
        qx, qy = x + (w - side) / 2, y + h * 0.09
        path = c.beginPath()
        for r, row in enumerate(m):
            col = 0
            while col < len(row):
                if row[col]:
                    start = col
                    while col < len(row) and row[col]:
                        col += 1
                    path.rect(
                        qx + (start + 4) * cell,
                        qy + side - (r + 5) * cell,
                        (col - start) * cell,
                        cell,
                    )
                else:
                    col += 1
        c.drawPath(path, fill=1, stroke=0)
        if slot == 7 or i == len(tickets) - 1:
            c.showPage()
    c.save()


def ours_badges(tickets: list[pdf.Ticket], out: io.BufferedWriter | io.BytesIO) -> None:
    sheets = badges.BadgeSheets(out, badges.BadgeLayout(), pdf.CORE_FONTS)
    for t in tickets:
        sheets.add(t)
    sheets.close()


def badge_peak_mib(tickets: list[pdf.Ticket]) -> float:
    """Peak traced memory (tracemalloc) of writing `tickets` as badge sheets to a file.
    tracemalloc slows the drawing ~10x: use it on a few hundred badges."""
    pdf.qr_ops.cache_clear()
    tracemalloc.start()
    with tempfile.TemporaryFile() as f:
        ours_badges(tickets, f)  # type: ignore[arg-type]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def badge_peak_rss_mib(tickets: list[pdf.Ticket]) -> float:
    """Growth of the peak resident set (VmHWM) over the resident set at the start, in a
    forked child writing `tickets` as badge sheets to a file: the whole process, at full
    speed (tickets made before the fork are shared, so they do not count)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read)
        pdf.qr_ops.cache_clear()
        gc.collect()
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
        start = _rss_kib()
        with tempfile.TemporaryFile() as out:
            ours_badges(tickets, out)  # type: ignore[arg-type]
        with open("/proc/self/status") as f:
            peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
        os.write(write, str(peak - start).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        grown = int(f.read() or 0)
    os.waitpid(pid, 0)
    return grown / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--badges", type=int, default=1000)
    ap.add_argument(
        "--peak", type=int, nargs=2, default=[200, 2000], help="badge counts for the RSS peaks"
    )
    ap.add_argument(
        "--traced", type=int, nargs=2, default=[100, 400], help="badge counts for tracemalloc"
    )
    a = ap.parse_args()

    var = Path(tempfile.mkdtemp(prefix="bench-passes-"))
    chain = ensure_dev_chain(var, "pass.bench.admitone")
    settings = Settings(
        env="dev",
        var_dir=var,
        secret_key=SecretStr(SECRET.decode()),
        wallet=WalletSettings(
            apple_pass_type_id="pass.bench.admitone",
            apple_certificate=chain.certificate.read_text(),
            apple_key=SecretStr(chain.key.read_text()),
            apple_wwdr_certificate=chain.wwdr.read_text(),
            google_private_key=SecretStr(chain.google_key.read_text()),
        ),
    )
    material, gkey = apple_material(settings), google_key(settings)
    bundled_images()
    t0 = ticket(0)
    manifest = manifest_of({"pass.json": pass_json(settings, t0), **bundled_images()})

    def bare_sign(_: int) -> bytes:  # the builder made in full each time, as one would
        return (
            pkcs7.PKCS7SignatureBuilder()
            .set_data(manifest)
            .add_signer(material.certificate, material.key, hashes.SHA256())
            .add_certificate(material.wwdr)
            .sign(
                serialization.Encoding.DER,
                [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
            )
        )

    claims = {
        "iss": settings.wallet.google_service_account_email,
        "aud": "google",
        "typ": "savetowallet",
        "iat": int(time.time()),
        "origins": issue.google_origins(settings),
        "payload": {
            "eventTicketClasses": [google_class(settings, t0, t0.event_id)],
            "eventTicketObjects": [google_object(settings, t0, t0.event_id)],
        },
    }

    small = [ticket(i) for i in range(a.n)]
    many = [ticket(i) for i in range(a.badges)]
    rows: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        rows.setdefault(key, []).append(value)

    for _ in range(a.rounds):
        wall_o, wall_b, cpu_o, cpu_b = paired(
            lambda i: issue.pkpass(settings, small[i]), bare_sign, a.n
        )
        add("pkpass_ms", wall_o)
        add("bare_pkcs7_sign_ms", wall_b)
        add("pkpass_cpu_ms", cpu_o)
        add("bare_pkcs7_sign_cpu_ms", cpu_b)
        wall_o, wall_b, cpu_o, cpu_b = paired(
            lambda i: issue.google_save_url(settings, small[i]),
            lambda i: jwt.encode(claims, gkey, algorithm="RS256"),
            a.n,
        )
        add("google_link_ms", wall_o)
        add("bare_pyjwt_rs256_ms", wall_b)
        add("google_link_cpu_ms", cpu_o)
        add("bare_pyjwt_rs256_cpu_ms", cpu_b)
        pdf.qr_ops.cache_clear()
        add("ticket_pdf_cold_ms", timed(lambda i: pdf.render_tickets([small[i]]), min(a.n, 50)))
        add(
            "ticket_pdf_cached_qr_ms", timed(lambda i: pdf.render_tickets([small[i]]), min(a.n, 50))
        )
        s = time.perf_counter()
        bare_badges(many, io.BytesIO())
        add("bare_badges_s", time.perf_counter() - s)
        pdf.qr_ops.cache_clear()
        s = time.perf_counter()
        ours_badges(many, io.BytesIO())
        add("badges_s", time.perf_counter() - s)
    ratios = {
        "pkpass_vs_bare_sign": [
            p / b for p, b in zip(rows["pkpass_ms"], rows["bare_pkcs7_sign_ms"], strict=True)
        ],
        "pkpass_vs_bare_sign_cpu": [
            p / b
            for p, b in zip(rows["pkpass_cpu_ms"], rows["bare_pkcs7_sign_cpu_ms"], strict=True)
        ],
        "google_vs_bare_jwt_cpu": [
            p / b
            for p, b in zip(
                rows["google_link_cpu_ms"], rows["bare_pyjwt_rs256_cpu_ms"], strict=True
            )
        ],
        "google_vs_bare_jwt": [
            p / b for p, b in zip(rows["google_link_ms"], rows["bare_pyjwt_rs256_ms"], strict=True)
        ],
        "badges_vs_bare": [
            p / b for p, b in zip(rows["badges_s"], rows["bare_badges_s"], strict=True)
        ],
    }
    most = max(*a.peak, *a.traced)
    pool = many if len(many) >= most else [*many, *(ticket(i) for i in range(len(many), most))]
    rss = {str(n): round(badge_peak_rss_mib(pool[:n]), 2) for n in a.peak}
    traced = {str(n): round(badge_peak_mib(pool[:n]), 2) for n in a.traced}
    out = {
        "median": {k: round(statistics.median(v), 3) for k, v in rows.items()},
        "ratio_median": {k: round(statistics.median(v), 2) for k, v in ratios.items()},
        "targets": {
            "pkpass_vs_bare_sign": 1.5,
            "google_vs_bare_jwt": 1.5,
            "ticket_pdf_ms": 10,
            "badges_vs_bare": 1.1,
        },
        "badge_writer_peak_rss_growth_mib": rss,
        "badge_writer_peak_traced_mib": traced,
        "rounds": a.rounds,
        "n": a.n,
    }
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
