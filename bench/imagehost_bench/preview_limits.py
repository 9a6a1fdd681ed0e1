"""bench/preview-limits: what a preview maker needs for the largest image accepted.

Makes one image of each accepted type at MAX_IMAGE_PIXELS (the default 50,000,000, a
square of 7071 pixels a side; `--pixels` for another limit), compressible enough to stay
under MAX_UPLOAD_BYTES as uploads at that size can, in a temporary folder. For each, a
fresh Python process makes its preview with the maker's own code
(imagehost.preview_maker.answer_job, as `python -m imagehost.preview_maker` runs it,
without the memory limit) and reports its wall time, its peak RSS (VmHWM) and its peak
address space (VmPeak: what PREVIEW_MEMORY_MB, an RLIMIT_AS, limits). Then the real
maker process is run once over all of them with PREVIEW_MEMORY_MB at its default, to
show that the default is enough. A Markdown table on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

from imagehost import config, previews
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
BACKEND = REPO / "services" / "backend"
CHILD_TIMEOUT_S = 120
FILES = {
    "image/png": ("png", {"compress_level": 9}),
    "image/jpeg": ("jpg", {"quality": 50}),
    "image/gif": ("gif", {}),
    "image/webp": ("webp", {"quality": 30}),
    "image/avif": ("avif", {"quality": 30, "speed": 10}),
}
CHILD = r"""
import json, sys, time
from pathlib import Path
from imagehost import preview_maker
from imagehost.previews import MakerSettings
folder, name, mime, pixels = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
settings = MakerSettings(Path(folder), 1 << 40, pixels)
preview_maker.Image.MAX_IMAGE_PIXELS = pixels
start = time.perf_counter()
answer = preview_maker.answer_job(settings, json.dumps({"name": name, "type": mime}))
seconds = time.perf_counter() - start
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
print(json.dumps({"answer": answer, "seconds": seconds,
                  "hwm_kib": int(status["VmHWM"].split()[0]), "peak_kib": int(status["VmPeak"].split()[0])}))
"""


def make_images(folder: Path, pixels: int) -> dict[str, str]:
    """One image per type, `pixels` pixels (a square), RGBA where the type has alpha."""
    side = math.isqrt(pixels)
    gradient = Image.linear_gradient("L").resize((side, side))
    rgba = Image.merge("RGBA", (gradient, gradient.transpose(Image.Transpose.ROTATE_90), gradient, gradient))
    names = {}
    for mime, (extension, options) in FILES.items():
        name = f"benchpreview{extension}.{extension}"
        picture = rgba if mime in ("image/png", "image/webp") else rgba.convert("RGB")
        if mime == "image/gif":
            picture = picture.quantize(16)
        picture.save(folder / name, **options)
        names[mime] = name
    return names


def measure(folder: Path, name: str, mime: str, pixels: int) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder), name, mime, str(pixels)],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        env={"PYTHONPATH": str(BACKEND)},
        check=True,
    )
    return json.loads(done.stdout)


def run_real_maker(folder: Path, names: dict[str, str], pixels: int, memory_mb: int) -> list[dict[str, object]]:
    settings = previews.MakerSettings(folder, memory_mb * 1024 * 1024, pixels)
    jobs = "".join(json.dumps({"name": name, "type": mime}) + "\n" for mime, name in names.items())
    done = subprocess.run(
        [sys.executable, "-m", "imagehost.preview_maker", settings.to_json()],
        input=jobs,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S * len(names),
        env={"PYTHONPATH": str(BACKEND)},
        check=False,
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pixels", type=int, default=int(config.default_of("MAX_IMAGE_PIXELS") or 0))
    arguments = parser.parse_args()
    memory_mb = int(config.default_of("PREVIEW_MEMORY_MB") or 0)
    with tempfile.TemporaryDirectory(prefix="preview-limits-") as temp:
        folder = Path(temp)
        (folder / previews.FOLDER).mkdir()
        print(f"making {arguments.pixels:,}-pixel images in {folder}", file=sys.stderr)
        names = make_images(folder, arguments.pixels)
        print("| type | file bytes | preview | seconds | peak RSS (MiB) | peak address space (MiB) | RSS B/pixel |")
        print("|---|---:|---|---:|---:|---:|---:|")
        for mime, name in names.items():
            print(f"measuring {mime}", file=sys.stderr)
            result = measure(folder, name, mime, arguments.pixels)
            answer = result["answer"]
            made = "made" if isinstance(answer, dict) and answer.get("ok") else f"not made: {answer}"
            hwm, peak = int(result["hwm_kib"]) / 1024, int(result["peak_kib"]) / 1024  # type: ignore[call-overload]
            per_pixel = int(result["hwm_kib"]) * 1024 / arguments.pixels  # type: ignore[call-overload]
            size = (folder / name).stat().st_size
            seconds = result["seconds"]
            print(f"| {mime} | {size:,} | {made} | {seconds:.2f} | {hwm:.0f} | {peak:.0f} | {per_pixel:.1f} |")
        answers = run_real_maker(folder, names, arguments.pixels, memory_mb)
        made = sum(1 for answer in answers if answer.get("ok"))
        print(
            f"\nThe maker process (`python -m imagehost.preview_maker`) at PREVIEW_MEMORY_MB={memory_mb}, "
            f"one job after another: {made} of {len(names)} previews made."
        )
        for answer in answers:
            if not answer.get("ok"):
                print(f"- {answer}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
