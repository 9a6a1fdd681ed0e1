"""bench/previews: which imaging library should make previews (issue 12)?

Makes 12-megapixel test photos (4000x3000: JPEG at quality 90, PNG and WebP, from one
synthetic photo-like image: colour gradients under fine noise, made with Pillow) in a
temporary folder, then for each library, source and preview format makes a preview of
PREVIEW_SIDE pixels on the longest side, `--runs` times, each in a fresh Python process:

- Pillow: `Image.open`, `draft()` (a JPEG is decoded at 1/2, 1/4 or 1/8 scale by the
  DCT itself; other formats are decoded whole), `thumbnail()`, `save()`.
- pyvips: `pyvips.Image.thumbnail(path, PREVIEW_SIDE)` (shrink-on-load for JPEG and
  WebP), `write_to_file()`. Skipped, with a line saying so, when pyvips or libvips is
  missing (Debian: apt-get install libvips42; pyvips from the usual Python index).

Each child reports the wall time and CPU time (user + system, every thread) of open,
shrink and save, and its own peak RSS (VmHWM in /proc/self/status: the interpreter,
the library and the work) and that peak once the library is imported. Not getrusage's
ru_maxrss: Linux carries the forking parent's peak over the exec into it.
The report is a Markdown table on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops, ImageFilter

WIDTH, HEIGHT = 4000, 3000
PREVIEW_SIDE = 400
SOURCES = {"JPEG": ("photo.jpg", {"quality": 90}), "PNG": ("photo.png", {}), "WebP": ("photo.webp", {"quality": 90})}
PREVIEWS = {"WebP": (".webp", 80), "JPEG": (".jpg", 85)}
CHILD_TIMEOUT_S = 60

# The child's program: argv is library, source path, output path, quality. It prints one
# JSON line. Kept as a string so every run starts a fresh interpreter with nothing cached.
CHILD = r"""
import json, sys, time


def high_water_kib():
    # VmHWM is this process's peak RSS since exec; ru_maxrss is not: Linux carries the
    # peak of the forking parent over the exec.
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


library, source, output, quality = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
side = int(sys.argv[5])
if library == "Pillow":
    from PIL import Image
else:
    import pyvips
imported_rss = high_water_kib()
cpu_before = time.process_time()
wall_before = time.perf_counter()
if library == "Pillow":
    with Image.open(source) as image:
        image.draft("RGB", (side, side))
        image.thumbnail((side, side))
        image.save(output, quality=quality)
        size = image.size
else:
    image = pyvips.Image.thumbnail(source, side)
    image.write_to_file(output, Q=quality)
    size = (image.width, image.height)
wall = time.perf_counter() - wall_before
cpu = time.process_time() - cpu_before
peak_rss = high_water_kib()
print(json.dumps({"wall": wall, "cpu": cpu, "peak_kib": peak_rss, "imported_kib": imported_rss, "size": size}))
"""


@dataclass(frozen=True)
class Row:
    library: str
    source: str
    preview: str
    walls: list[float]
    cpus: list[float]
    peak_kib: int
    imported_kib: int


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/previews", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="previews per library, source and format (default 5)")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 100:
        parser.error("--runs must be between 1 and 100")
    libraries = ["Pillow"]
    missing = _pyvips_missing()
    if missing:
        print(f"pyvips skipped: {missing}", file=sys.stderr)
    else:
        libraries.append("pyvips")
    with tempfile.TemporaryDirectory(prefix="imagehost-previews-") as folder:
        sources = _write_photos(Path(folder))
        rows = [
            _measure(library, source_format, path, preview_format, Path(folder), args.runs)
            for library in libraries
            for source_format, path in sources.items()
            for preview_format in PREVIEWS
        ]
    print(_table(rows, args.runs))
    if missing:
        print(f"\npyvips was not measured: {missing}")
    return 0


def _pyvips_missing() -> str | None:
    """None when a fresh interpreter can import pyvips (and so load libvips), else why not."""
    probe = subprocess.run(
        [sys.executable, "-c", "import pyvips; print(pyvips.version(0), pyvips.version(1), pyvips.version(2))"],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        check=False,
    )
    if probe.returncode != 0:
        return (probe.stderr.strip().splitlines() or ["import pyvips failed"])[-1]
    print(f"libvips {probe.stdout.strip().replace(' ', '.')}", file=sys.stderr)
    return None


def _write_photos(folder: Path) -> dict[str, Path]:
    """The 12-megapixel test photo in each source format; {format: path}."""
    print(f"making the {WIDTH}x{HEIGHT} test photos in {folder}", file=sys.stderr)
    photo = _photo_like()
    paths = {}
    for name, (filename, options) in SOURCES.items():
        paths[name] = folder / filename
        photo.save(paths[name], **options)
        print(f"  {filename}: {paths[name].stat().st_size:,} bytes", file=sys.stderr)
    return paths


def _photo_like() -> Image.Image:
    """Smooth colour gradients (sky, light falloff) with sensor-like noise and some
    blurred structure on top: it compresses about as a real photo does, unlike a flat
    gradient (tiny) or pure noise (huge)."""
    size = (WIDTH, HEIGHT)
    horizontal = Image.linear_gradient("L").rotate(90).resize(size)
    vertical = Image.linear_gradient("L").resize(size)
    radial = Image.radial_gradient("L").resize(size)
    base = Image.merge("RGB", (horizontal, vertical, radial))
    structure = Image.effect_noise((WIDTH // 40, HEIGHT // 40), 64).resize(size, Image.Resampling.BICUBIC)
    texture = Image.effect_noise(size, 24).filter(ImageFilter.GaussianBlur(0.6))
    detail = ImageChops.add(structure, texture, scale=2.0).convert("RGB")
    return ImageChops.blend(base, detail, 0.35)


def _measure(library: str, source_format: str, source: Path, preview_format: str, folder: Path, runs: int) -> Row:
    suffix, quality = PREVIEWS[preview_format]
    output = folder / f"preview-{library}{suffix}"
    results = [_one_child(library, source, output, quality) for _ in range(runs)]
    with Image.open(output) as preview:
        if max(preview.size) != PREVIEW_SIDE:
            raise RuntimeError(f"{library} made a {preview.size} preview from {source.name}")
    print(f"  {library} {source_format} -> {preview_format}: done", file=sys.stderr)
    return Row(
        library,
        source_format,
        preview_format,
        walls=[r["wall"] for r in results],
        cpus=[r["cpu"] for r in results],
        peak_kib=max(r["peak_kib"] for r in results),
        imported_kib=max(r["imported_kib"] for r in results),
    )


def _one_child(library: str, source: Path, output: Path, quality: int) -> dict[str, float]:
    """One preview in a fresh interpreter; its JSON report. RuntimeError if it fails."""
    argv = [sys.executable, "-c", CHILD, library, str(source), str(output), str(quality), str(PREVIEW_SIDE)]
    child = subprocess.run(argv, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, check=False)
    if child.returncode != 0:
        raise RuntimeError(f"{library} on {source.name} exited with {child.returncode}:\n{child.stderr[-2000:]}")
    report: dict[str, float] = json.loads(child.stdout.strip().splitlines()[-1])
    return report


def _p90(values: list[float]) -> float:
    """The nearest-rank 90th percentile (with 5 runs, the slowest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


HEADER = (
    "| library | source | preview | wall ms median | wall ms p90 | CPU ms median | peak RSS MiB"
    " | RSS after import MiB |\n|---|---|---|---:|---:|---:|---:|---:|"
)


def _table(rows: list[Row], runs: int) -> str:
    title = f"{PREVIEW_SIDE} px previews of a {WIDTH}x{HEIGHT} photo, {runs} runs each, one fresh process per run"
    return "\n".join([title, "", HEADER, *(_table_line(row) for row in rows)])


def _table_line(row: Row) -> str:
    return (
        f"| {row.library} | {row.source} | {row.preview} | {statistics.median(row.walls) * 1000:.0f}"
        f" | {_p90(row.walls) * 1000:.0f} | {statistics.median(row.cpus) * 1000:.0f}"
        f" | {row.peak_kib / 1024:.0f} | {row.imported_kib / 1024:.0f} |"
    )


if __name__ == "__main__":
    sys.exit(main())
