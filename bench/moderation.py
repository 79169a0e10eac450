"""Moderation cost per DP: CPU time the checks add to a DP, with and without NudeNet, next
to a baseline measured in the same run, and the block-list lookup at 100,000 entries.

Per DP, from a 12 MP phone-sized JPEG upload (synthetic, seeded) plus a name and a title:
- baseline "no checks": `core.images.clean_image` to 1080 px, the decode and re-encode
  every DP upload gets anyway (the DP render is not measured here: it lives in `dp`);
- "checks, no NudeNet": the checks' own decode (`draft()`, 640 px), pHash against a
  100,000-entry block-list, the word list on the name and the title;
- "checks with NudeNet": the same plus the classifier (one onnxruntime thread).
CPU is this process's `time.process_time()` (onnxruntime runs on one thread, so CPU and
the single core it uses agree); rounds interleave the three so load drift hits all.
Targets (issue 14): checks add <= 35 ms CPU per DP without NudeNet, <= 60 ms with it.

As wired into a DP (`dp.service.safety`, the same run): the render already decodes the
upload (`open_photo`, not counted), so generation adds only the pHash of that decoded photo
(downscaled to 320 px), the lookup and the word lists ("DP inline"); the classifier runs in
the `dp.classify` job on the stored picture (a 1080 px JPEG here): its decode at 320 px and
NudeNet, at its own 320 px input side and at 256 px (`classifier_input_side`).

Lookup: numpy XOR + bit count over 100,000 int64 hashes, against a pure-Python loop over
the same list (baseline, same run).

    .venv/bin/python bench/moderation.py [--rounds 7] [--per-round 5]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from admitone.core.images import clean_image
from admitone.dp.render import open_photo
from admitone.dp.service.safety import photo_hash
from admitone.integrations.moderation import (
    decode_for_checks,
    image_checks,
    run_image_checks,
)
from admitone.integrations.moderation.classifier import NudityCheck, detector, extra_installed
from admitone.integrations.moderation.phash import HashBlocklistCheck, nearest
from admitone.integrations.moderation.text import WordListCheck
from admitone.settings import ModerationSettings

MAX_PIXELS = 40_000_000


def upload(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    small = Image.new("RGB", (400, 300), tuple(int(v) for v in rng.integers(0, 255, 3)))
    draw = ImageDraw.Draw(small)
    for _ in range(20):
        x, y = int(rng.integers(0, 400)), int(rng.integers(0, 300))
        box = (x, y, x + int(rng.integers(20, 200)), y + int(rng.integers(20, 150)))
        draw.ellipse(box, fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    big = small.filter(ImageFilter.GaussianBlur(2)).resize((4000, 3000), Image.Resampling.BICUBIC)
    noisy = np.asarray(big, np.int16) + rng.integers(-8, 8, (3000, 4000, 3), dtype=np.int16)
    out = io.BytesIO()
    Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(out, "JPEG", quality=90)
    return out.getvalue()


def rendered(data: bytes) -> bytes:
    """A stand-in for the DP's stored picture: the photo cropped to 1080 px, JPEG q90."""
    image = open_photo(data, max_bytes=50_000_000, max_pixels=MAX_PIXELS, cover=(1080, 1080))
    side = min(image.size)
    square = image.crop((0, 0, side, side)).resize((1080, 1080), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    square.convert("RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


def cpu_ms(fn, items) -> float:  # type: ignore[no-untyped-def]
    started = time.process_time()
    for item in items:
        fn(item)
    return (time.process_time() - started) / len(items) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--per-round", type=int, default=5)
    a = ap.parse_args()

    rng = np.random.default_rng(1)
    blocked = rng.integers(-(2**63), 2**63 - 1, size=100_000, dtype=np.int64)
    uploads = [upload(seed) for seed in range(a.per_round)]
    texts = WordListCheck(("en", "fr", "es"))
    texts.pattern()  # compiled once per process, like the platform does
    without = ModerationSettings(image_checks=["hash_blocklist"])
    with_nn = ModerationSettings()
    nudenet = extra_installed()
    if nudenet:
        detector()  # loaded once per process

    def baseline(data: bytes) -> None:
        clean_image(data, max_pixels=MAX_PIXELS, max_side=1080)

    def checks(settings: ModerationSettings):  # type: ignore[no-untyped-def]
        def run(data: bytes) -> None:
            image = decode_for_checks(data, max_pixels=MAX_PIXELS)
            run_image_checks(image_checks(settings, blocked), image)
            texts.check("Adaeze Okonkwo-Williamson")
            texts.check("Speaker, Lagos Tech Week")

        return run

    photos = [open_photo(d, max_pixels=MAX_PIXELS, max_bytes=50_000_000, cover=(600, 600))
              for d in uploads]  # fmt: skip
    outputs = [rendered(d) for d in uploads]
    listed = HashBlocklistCheck(blocked, 6)

    def dp_inline(photo: Image.Image) -> None:
        listed.check_hash(photo_hash(photo))
        texts.check("Adaeze Okonkwo-Williamson")
        texts.check("Speaker, Lagos Tech Week")

    def dp_job(side: int):  # type: ignore[no-untyped-def]
        check = NudityCheck(input_side=side)

        def run(data: bytes) -> None:
            check.check(decode_for_checks(data, max_pixels=MAX_PIXELS))

        return run

    results: dict[str, list[float]] = {
        k: [] for k in ("baseline", "no_nudenet", "nudenet", "dp_inline", "job_320", "job_256")
    }
    for _ in range(a.rounds):
        results["baseline"].append(cpu_ms(baseline, uploads))
        results["no_nudenet"].append(cpu_ms(checks(without), uploads))
        results["dp_inline"].append(cpu_ms(dp_inline, photos))
        if nudenet:
            results["nudenet"].append(cpu_ms(checks(with_nn), uploads))
            results["job_320"].append(cpu_ms(dp_job(320), outputs))
            results["job_256"].append(cpu_ms(dp_job(256), outputs))

    med = {k: statistics.median(v) for k, v in results.items() if v}
    print(f"per DP, CPU ms (median of {a.rounds} rounds x {a.per_round} uploads, 12 MP JPEG):")
    print(f"  baseline, clean_image to 1080 px (no checks): {med['baseline']:.1f}")
    print(
        f"  checks without NudeNet: {med['no_nudenet']:.1f} "
        f"({med['no_nudenet'] / med['baseline']:.2f}x the baseline; target <= 35 ms)"
    )
    if nudenet:
        print(
            f"  checks with NudeNet: {med['nudenet']:.1f} "
            f"({med['nudenet'] / med['baseline']:.2f}x the baseline; target <= 60 ms)"
        )
    else:
        print("  checks with NudeNet: not measured (pip install -e '.[moderation]')")
    inline = med["dp_inline"]
    print("as wired into a DP (the render's decode not counted):")
    print(
        f"  DP inline (pHash of the decoded photo, lookup, words): {inline:.1f} (target <= 35 ms)"
    )
    if nudenet:
        for side in (320, 256):
            job = med[f"job_{side}"]
            print(
                f"  dp.classify job, input side {side}: {job:.1f}; "
                f"inline + job {inline + job:.1f} (target <= 60 ms)"
            )

    target = int(blocked[54_321])
    n = 200
    started = time.perf_counter()
    for _ in range(n):
        nearest(blocked, target)
    numpy_ms = (time.perf_counter() - started) / n * 1000
    as_list = blocked.tolist()
    started = time.perf_counter()
    min(((h ^ target) & 0xFFFF_FFFF_FFFF_FFFF).bit_count() for h in as_list)
    python_ms = (time.perf_counter() - started) * 1000
    print(
        f"block-list lookup, 100,000 entries: numpy {numpy_ms:.3f} ms; "
        f"pure Python {python_ms:.1f} ms ({python_ms / numpy_ms:.0f}x slower)"
    )


if __name__ == "__main__":
    main()
