"""DP rendering: our engine against the bare Pillow pipeline it must match, in one run.

    .venv/bin/python bench/dp.py [--rounds 3] [--n 15] [--pin 0]

Both variants turn the same 12 MP JPEGs (3000x4000 shown; half stored 4000x3000 with EXIF
Orientation=6, all with GPS EXIF) into 1080x1080 JPEG q85 DPs: decode with draft()
shrink-on-load, orientation, cover-crop + Lanczos into a 500x500 circle slot, composite under
a 1080x1080 RGBA frame decoded once, a name and a subtitle auto-shrunk to their boxes,
encode. "bare" is reference/bench/media/dp_render.py's `pil_render` (copied below, with the
bundled Noto Sans Bold for both); "render" is `open_photo` + `render_dp` with the frame from
`frame_cache`. Every measurement runs in its own worker process (so its peak RSS, VmHWM, is
that variant's alone), variants interleaved within each round, medians over rounds. CPU time
(`time.process_time`) is the figure that load from other processes on a shared box does not
move; the ratio render/bare is the target (<= 1.15), peak RSS per worker <= 70 MiB.

`--procs 2` also measures the in-process throughput of two workers at once (one per core):
the baseline an HTTP benchmark of `POST /api/v1/dp-campaigns/{id}/generate` compares with.
`http_generate()` is the hook for that HTTP part (8 concurrent clients posting a photo); it
needs a server with a published campaign and template, which `--http-url` points at.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops, ImageDraw, ImageFont, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

TEMPLATE_SIZE = 1080
SLOT = (290, 170, 500, 500)  # x, y, w, h: the circle the photo goes in
TEXT_BOX = (90, 760, 900, 110)  # the name
SUBTITLE_BOX = (140, 880, 800, 60)
NAMES = [
    "Adaeze Okonkwo-Williamson",
    "Li Wei",
    "Maximilian Alexander von Hohenberg-Schwarz",
    "José Ñúñez",
]
SUBTITLE = "Attending · PyCon Lagos"
MAX_PIXELS = 50_000_000
LAYOUT = {
    "width": TEMPLATE_SIZE,
    "height": TEMPLATE_SIZE,
    "format": "jpeg",
    "photo": {"x": 290, "y": 170, "width": 500, "height": 500, "shape": "circle"},
    "texts": [
        {"key": "name", "x": 90, "y": 760, "width": 900, "height": 110, "size": 96,
         "font": "sans-bold", "required": True},
        {"key": "title", "x": 140, "y": 880, "width": 800, "height": 60, "size": 44,
         "font": "sans-bold"},
    ],
}  # fmt: skip


# ---------------------------------------------------------------- inputs (Pillow only)


def synthetic_photo(
    seed: int, *, rotate_exif: bool, width: int = 3000, height: int = 4000
) -> bytes:
    """A photo-like 12 MP JPEG (smooth colour field, shapes, sensor-like noise) with camera
    and GPS EXIF; with rotate_exif stored landscape with Orientation=6, as phones do."""
    rng = random.Random(seed)
    w, h = (height, width) if rotate_exif else (width, height)
    small = Image.frombytes("RGB", (8, 6), bytes(rng.randrange(256) for _ in range(8 * 6 * 3)))
    image = small.resize((w, h), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y, r = rng.randrange(w), rng.randrange(h), rng.randrange(30, 400)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(256) for _ in "rgb"))
    noise = Image.effect_noise((w, h), 6).convert("RGB")
    image = ImageChops.add(image, noise, scale=1.0, offset=-128)
    exif = Image.Exif()
    exif[0x010F] = "SyntheticCam"
    exif[0x0110] = "Bench 1"
    exif[0x0112] = 6 if rotate_exif else 1
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (52.0, 22.0, 12.5), 3: "E", 4: (4.0, 53.0, 40.1)})
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def template_frame() -> bytes:
    """The organizer's 1080x1080 PNG: opaque gradient art, a transparent circle where the
    photo goes, a semi-transparent band under the name."""
    s = TEMPLATE_SIZE
    red = Image.linear_gradient("L").rotate(90).resize((s, s))
    blue = Image.linear_gradient("L").resize((s, s))
    alpha = Image.new("L", (s, s), 255)
    draw = ImageDraw.Draw(alpha)
    draw.rectangle((0, 741, s, 959), fill=200)
    x, y, w, h = SLOT
    draw.ellipse((x - 6, y - 6, x + w + 6, y + h + 6), fill=0)
    frame = Image.merge("RGBA", (red, Image.new("L", (s, s), 40), blue, alpha))
    out = io.BytesIO()
    frame.save(out, "PNG")
    return out.getvalue()


def prepare(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(4):
        path = folder / f"photo{i}.jpg"
        if not path.exists():
            path.write_bytes(synthetic_photo(100 + i, rotate_exif=i % 2 == 1))
    frame = folder / "frame.png"
    if not frame.exists():
        frame.write_bytes(template_frame())


# ---------------------------------------------------------------- the bare pipeline
# reference/bench/media/dp_render.py's pil_render, JPEG output only, same font file as ours.


def _font_path() -> str:
    return str(ROOT / "src/admitone/dp/fonts/NotoSans-Bold.ttf")


@lru_cache(maxsize=64)
def _pil_font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(_font_path(), size)


def _pil_fit_font(
    draw: ImageDraw.ImageDraw, text: str, max_w: int, max_h: int, start: int, smallest: int = 14
) -> ImageFont.FreeTypeFont:
    size = start
    font = _pil_font(size)
    length = font.getlength(text)
    if length > max_w:
        size = max(smallest, int(size * max_w / length))
        font = _pil_font(size)
        while size > smallest and font.getlength(text) > max_w:
            size -= 1
            font = _pil_font(size)
    while size > smallest:
        _, t, _, b = draw.textbbox((0, 0), text, font=font)
        if b - t <= max_h:
            break
        size -= 2
        font = _pil_font(size)
    return font


def _pil_mask(w: int, h: int, shape: str, radius: int = 60) -> Image.Image:
    ss = 4
    m = Image.new("L", (w * ss, h * ss), 0)
    d = ImageDraw.Draw(m)
    if shape == "circle":
        d.ellipse((0, 0, w * ss - 1, h * ss - 1), fill=255)
    else:
        d.rounded_rectangle((0, 0, w * ss - 1, h * ss - 1), radius=radius * ss, fill=255)
    return m.resize((w, h), Image.Resampling.BOX)


def bare_load_frame(png: bytes) -> Image.Image:
    frame = Image.open(io.BytesIO(png))
    frame.load()
    return frame.convert("RGBA")


def bare_render(photo: bytes, frame: Image.Image, name: str, subtitle: str) -> bytes:
    x, y, w, h = SLOT
    im = Image.open(io.BytesIO(photo))
    if im.width * im.height > MAX_PIXELS:
        raise ValueError("too large")
    if im.format == "JPEG":
        orientation = im.getexif().get(0x0112, 1)
        tw, th = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
        scale = max(tw / im.width, th / im.height)
        im.draft("RGB", (math.ceil(im.width * scale), math.ceil(im.height * scale)))
    im = ImageOps.exif_transpose(im)
    if im.mode != "RGB":
        im = im.convert("RGB")
    photo_fit = ImageOps.fit(im, (w, h), Image.Resampling.LANCZOS)
    canvas = Image.new("RGBA", (TEMPLATE_SIZE, TEMPLATE_SIZE), (255, 255, 255, 255))
    canvas.paste(photo_fit, (x, y), _pil_mask(w, h, "circle"))
    canvas.alpha_composite(frame)
    draw = ImageDraw.Draw(canvas)
    for text, (bx, by, bw, bh), start in ((name, TEXT_BOX, 96), (subtitle, SUBTITLE_BOX, 44)):
        if text:
            font = _pil_fit_font(draw, text, bw, bh, start)
            draw.text((bx + bw / 2, by + bh / 2), text, font=font, fill=(255, 255, 255, 255),
                      anchor="mm")  # fmt: skip
    out = io.BytesIO()
    canvas.convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()


# ---------------------------------------------------------------- workers


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _renderer(variant: str, frame_png: bytes) -> Callable[[bytes, str], bytes]:
    if variant == "bare":
        frame = bare_load_frame(frame_png)
        return lambda photo, name: bare_render(photo, frame, name, SUBTITLE)
    from admitone.dp.render import frame_cache, open_photo, parse_layout, render_dp

    layout = parse_layout(LAYOUT)
    frame_cache.get("bench-frame", layout, lambda: frame_png)

    def render(photo: bytes, name: str) -> bytes:
        image = open_photo(photo, max_bytes=15 << 20, max_pixels=MAX_PIXELS,
                           cover=layout.photo.size)  # fmt: skip
        framed = frame_cache.get("bench-frame", layout, lambda: frame_png)
        return render_dp(framed, layout, image, {"name": name, "title": SUBTITLE}).data

    return render


def worker(variant: str, folder: Path, n: int, start_at: float | None) -> None:
    """One variant, n DPs. A photo is read from disk (page cache) when it is rendered, as a
    server gets one upload at a time, and that read is left out of the CPU time: holding all
    inputs would add their 14 MB to the peak RSS the targets are about."""
    paths = sorted(folder.glob("photo*.jpg"))
    render = _renderer(variant, (folder / "frame.png").read_bytes())
    rss_before = peak_rss_mib()
    render(paths[0].read_bytes(), NAMES[0])  # warm-up: fonts, lazy imports
    if start_at:
        time.sleep(max(0.0, start_at - time.time()))
    latencies = []
    reading = 0.0
    cpu0, wall0 = time.process_time(), time.time()
    for i in range(n):
        read_from = time.process_time()
        photo = paths[i % len(paths)].read_bytes()
        reading += time.process_time() - read_from
        started = time.perf_counter()
        out = render(photo, NAMES[i % len(NAMES)])
        latencies.append(time.perf_counter() - started)
        del photo
        assert out[:2] == b"\xff\xd8"
        assert b"SyntheticCam" not in out
        assert b"Exif" not in out
    wall1 = time.time()
    print(json.dumps({
        "variant": variant, "n": n, "t0": wall0, "t1": wall1,
        "cpu_ms": (time.process_time() - cpu0 - reading) / n * 1000,
        "lat_ms": statistics.median(latencies) * 1000,
        "rss_before": rss_before, "rss_peak": peak_rss_mib(),
    }))  # fmt: skip


def paired_worker(folder: Path, n: int) -> None:
    """Both variants in one process, alternating photo by photo (and which goes first), each
    render's CPU time taken alone: background load hits both alike, so the median of the
    per-photo ratios is the figure a shared box does not bias."""
    paths = sorted(folder.glob("photo*.jpg"))
    frame_png = (folder / "frame.png").read_bytes()
    renders = {v: _renderer(v, frame_png) for v in ("bare", "render")}
    for render in renders.values():
        render(paths[0].read_bytes(), NAMES[0])
    cpu: dict[str, list[float]] = {"bare": [], "render": []}
    for i in range(n):
        photo = paths[i % len(paths)].read_bytes()
        for variant in ("bare", "render") if i % 2 == 0 else ("render", "bare"):
            started = time.process_time()
            renders[variant](photo, NAMES[i % len(NAMES)])
            cpu[variant].append(time.process_time() - started)
    ratios = [r / b for b, r in zip(cpu["bare"], cpu["render"], strict=True) if b > 0]
    print(json.dumps({
        "bare_cpu_ms": statistics.median(cpu["bare"]) * 1000,
        "render_cpu_ms": statistics.median(cpu["render"]) * 1000,
        "render_over_bare": statistics.median(ratios),
    }))  # fmt: skip


def spawn(
    variant: str, folder: Path, n: int, *, pin: int | None, start_at: float | None = None
) -> subprocess.Popen[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "worker", variant, str(folder), str(n)]
    if start_at:
        cmd.append(str(start_at))
    if pin is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(pin), *cmd]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def collect(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"worker failed: {proc.args}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


# ---------------------------------------------------------------- the HTTP hook


def http_generate(
    url: str, fields: dict[str, str], photos: list[bytes], *, clients: int = 8, n: int = 40
) -> dict[str, float]:
    """`n` multipart POSTs of `photos` (field `file`) plus `fields` to `url` from `clients`
    concurrent clients; DPs per second and median latency. Every answer must be 201."""
    import httpx

    def one(i: int, client: httpx.Client) -> float:
        started = time.perf_counter()
        resp = client.post(url, data=fields, files={"file": (f"p{i}.jpg", photos[i % len(photos)],
                                                             "image/jpeg")})  # fmt: skip
        if resp.status_code != 201:
            raise SystemExit(f"generate answered {resp.status_code}: {resp.text[:300]}")
        return time.perf_counter() - started

    with httpx.Client(timeout=120) as client, ThreadPoolExecutor(clients) as pool:
        one(0, client)  # warm-up
        started = time.perf_counter()
        latencies = list(pool.map(lambda i: one(i, client), range(n)))
        wall = time.perf_counter() - started
    return {"dps": n / wall, "lat_ms": statistics.median(latencies) * 1000}


# ---------------------------------------------------------------- main


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        start_at = float(sys.argv[5]) if len(sys.argv) > 5 else None
        if sys.argv[2] == "paired":
            return paired_worker(Path(sys.argv[3]), int(sys.argv[4]))
        return worker(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), start_at)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n", type=int, default=15, help="DPs per worker")
    ap.add_argument("--pin", type=int, default=0, help="CPU for the 1-core workers (-1: none)")
    ap.add_argument("--procs", type=int, default=0, help="also N workers at once (throughput)")
    ap.add_argument("--paired", type=int, default=0, help="also N DPs of each variant in one "
                    "process, alternating (the ratio background load does not bias)")  # fmt: skip
    ap.add_argument("--inputs", type=Path, default=Path(tempfile.gettempdir()) / "admitone-dp")
    ap.add_argument("--http-url", help="POST .../generate URL of a running server")
    ap.add_argument("--http-field", action="append", default=[], help="form field k=v")
    ap.add_argument("--http-clients", type=int, default=8)
    args = ap.parse_args()
    prepare(args.inputs)
    pin = None if args.pin < 0 else args.pin
    rows: list[dict[str, dict[str, Any]]] = []
    for r in range(args.rounds):
        order = ("bare", "render") if r % 2 == 0 else ("render", "bare")
        row = {v: collect(spawn(v, args.inputs, args.n, pin=pin)) for v in order}
        if args.procs:
            for v in order:
                start_at = time.time() + 2.0
                procs = [spawn(v, args.inputs, args.n, pin=None, start_at=start_at)
                         for _ in range(args.procs)]  # fmt: skip
                done = [collect(p) for p in procs]
                wall = max(d["t1"] for d in done) - min(d["t0"] for d in done)
                row[v]["procs_dps"] = args.procs * args.n / wall
        rows.append(row)
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(
            f"{v} {row[v]['cpu_ms']:.1f} ms CPU, {row[v]['rss_peak']:.0f} MiB" for v in order
        ), file=sys.stderr)  # fmt: skip

    def med(variant: str, key: str) -> float:
        return round(statistics.median(row[variant][key] for row in rows), 2)

    summary: dict[str, Any] = {
        "rounds": args.rounds,
        "n": args.n,
        "cpu_ms_per_dp": {v: med(v, "cpu_ms") for v in ("bare", "render")},
        "render_over_bare_cpu": round(
            statistics.median(row["render"]["cpu_ms"] / row["bare"]["cpu_ms"] for row in rows), 3
        ),
        "latency_ms": {v: med(v, "lat_ms") for v in ("bare", "render")},
        "peak_rss_mib": {v: med(v, "rss_peak") for v in ("bare", "render")},
        "rss_after_imports_and_frame_mib": {v: med(v, "rss_before") for v in ("bare", "render")},
        "targets": {"render_over_bare_cpu": 1.15, "peak_rss_mib": 70},
    }
    if args.paired:
        paired = [collect(spawn("paired", args.inputs, args.paired, pin=pin)) for _ in range(2)]
        summary["paired"] = {
            "dps_per_process": args.paired,
            "bare_cpu_ms": round(statistics.median(p["bare_cpu_ms"] for p in paired), 2),
            "render_cpu_ms": round(statistics.median(p["render_cpu_ms"] for p in paired), 2),
            "render_over_bare_cpu": [round(p["render_over_bare"], 3) for p in paired],
        }
    if args.procs:
        summary[f"{args.procs}proc_dps"] = {v: med(v, "procs_dps") for v in ("bare", "render")}
    if args.http_url:
        fields = dict(f.split("=", 1) for f in args.http_field)
        photos = [p.read_bytes() for p in sorted(args.inputs.glob("photo*.jpg"))]
        http = http_generate(args.http_url, fields, photos, clients=args.http_clients)
        summary["http"] = http
        if args.procs:
            summary["http_over_in_process_dps"] = round(
                http["dps"] / summary[f"{args.procs}proc_dps"]["render"], 3
            )
    summary["all"] = rows
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
