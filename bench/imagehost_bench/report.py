"""The report: Markdown, ready to paste into docs/performance.md.

Every figure is a median over the rounds. A ratio is the median of each round's
imagehost/ceiling quotient (the two runs of one round are seconds apart, so they share
whatever else the machine was doing). Errors are totals over all rounds.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .floor import Floor
from .gallery import Gallery
from .scenarios import SMALL_IMAGE_BYTES, Comparison, Sample
from .upload_cpu import DIRECT, GROUPS, UPLOAD, UploadCpu

# The targets, judged on the 2-worker figures (docs/performance.md).
TARGET_WORKERS = 2
UPLOAD_RATIO = 0.60
SMALL_UPLOAD_P99_MS = 50.0
STATIC_RATIO = 0.95
# Issue 14: from the bucket through nginx's warm cache, against nginx serving a local file.
STATIC_RATIO_S3 = 0.90
LISTING_P99_MS = 20.0
LISTING_GROWTH = 1.5
# Issue 13: a tag filter and a search at the largest index, and their growth from 10,000 images.
FILTERED_P99_MS = 30.0
FILTERED_GROWTH = 1.5
WORKER_PEAK_RSS_MIB = 30.0
STARTUP_S = 3.0
# Issue 12: previews may cost the uploads this much at most, and must spare the gallery this much.
PREVIEW_UPLOAD_RATIO = 0.70
PREVIEW_P99_GROWTH_MS = 20.0
GALLERY_IMAGE_BYTES = 1_500_000
GALLERY_DRAWN_MS = 1000.0


@dataclass(frozen=True)
class Startup:
    workers: int
    images: int
    seconds: list[float]


@dataclass(frozen=True)
class Verdict:
    target: str
    goal: str
    figure: str
    passed: bool | None  # None: not judged

    @property
    def word(self) -> str:
        return {True: "PASS", False: "FAIL", None: "not judged"}[self.passed]


def median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def ratio(comparison: Comparison) -> float | None:
    return median(
        a.load.rate / b.load.rate for a, b in zip(comparison.imagehost, comparison.ceiling, strict=True) if b.load.rate
    )


def of(samples: list[Sample], pick: Callable[[Sample], float | None]) -> float | None:
    return median(pick(sample) for sample in samples)


def peak_rss_mib(samples: list[Sample]) -> dict[int, float]:
    """Worker id -> the largest VmHWM any round saw, in MiB."""
    peaks: dict[int, float] = {}
    for sample in samples:
        for worker, kib in sample.peak_rss_kib.items():
            peaks[worker] = max(peaks.get(worker, 0.0), kib / 1024)
    return peaks


def _number(value: float | None, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "rate":
        return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"
    if kind == "ratio":
        return f"{value:.2f}"
    if kind == "cpu":
        return f"{value:.2f}" if value >= 1 else f"{value:.3f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"  # milliseconds


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table with padded columns, so it reads in a terminal as well."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"
    return [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)]


def scenario_rows(comparisons: list[Comparison]) -> list[str]:
    header = [
        "workers",
        "scenario",
        "req/s",
        "ceiling req/s",
        "ratio",
        "p50 ms",
        "p99 ms",
        "ceiling p99 ms",
        "errors",
        "worker CPU ms/req",
        "supervisor CPU ms/req",
        "nginx CPU ms/req",
        "ceiling nginx CPU ms/req",
        "peak RSS MiB per worker",
    ]
    rows = []
    for c in comparisons:
        mine, top = c.imagehost, c.ceiling
        errors = f"{sum(s.load.errors for s in mine)} / {sum(s.load.errors for s in top)}"
        peaks = " / ".join(f"{mib:.1f}" for _, mib in sorted(peak_rss_mib(mine).items())) or "-"
        rows.append(
            [
                str(c.workers),
                f"{c.key} {c.title}",
                _number(of(mine, lambda s: s.load.rate), "rate"),
                _number(of(top, lambda s: s.load.rate), "rate"),
                _number(ratio(c), "ratio"),
                _number(of(mine, lambda s: s.load.p50_ms), "ms"),
                _number(of(mine, lambda s: s.load.p99_ms), "ms"),
                _number(of(top, lambda s: s.load.p99_ms), "ms"),
                errors,
                _number(of(mine, lambda s: s.cpu_ms_per_request.get("worker")), "cpu"),
                _number(of(mine, lambda s: s.cpu_ms_per_request.get("supervisor")), "cpu"),
                _number(of(mine, lambda s: s.cpu_ms_per_request.get("nginx")), "cpu"),
                _number(of(top, lambda s: s.cpu_ms_per_request.get("nginx")), "cpu"),
                peaks,
            ]
        )
    return table(header, rows)


def startup_rows(startups: list[Startup]) -> list[str]:
    rows = [
        [str(s.workers), f"{s.images:,}", f"{median(s.seconds):.2f}", ", ".join(f"{x:.2f}" for x in s.seconds)]
        for s in startups
    ]
    return table(["workers", "images on disk and in the index", "start-up s (median)", "each round s"], rows)


def p99_growth(comparison: Comparison) -> float | None:
    """The median over rounds of imagehost's p99 less the other side's, in ms."""
    return median(a.load.p99_ms - b.load.p99_ms for a, b in zip(comparison.imagehost, comparison.ceiling, strict=True))


def gallery_rows(gallery: Gallery) -> list[str]:
    if gallery.not_measured:
        return [f"Not measured: {gallery.not_measured}."]
    rows = [
        [
            str(number + 1),
            f"{weight.tiles} / {weight.visible_tiles}",
            str(weight.image_requests),
            f"{weight.image_bytes:,}",
            str(len(weight.full_files)),
            "-" if weight.drawn_ms is None else f"{weight.drawn_ms:.0f}",
            f"{weight.drawn_tiles} / {weight.visible_tiles}",
        ]
        for number, weight in enumerate(gallery.rounds)
    ]
    header = [
        "round",
        "tiles / in the window",
        "image requests",
        "image bytes",
        "full files requested",
        "visible tiles drawn, ms",
        "drawn / visible",
    ]
    return table(header, rows)


def _gallery_drawn_ms(gallery: Gallery | None) -> float | None:
    """The median over rounds; a round whose visible tiles were not all drawn counts as endless."""
    if not gallery or not gallery.rounds:
        return None
    return statistics.median(w.drawn_ms if w.drawn_ms is not None else float("inf") for w in gallery.rounds)


def verdicts(
    comparisons: list[Comparison],
    startups: list[Startup],
    judged: bool,
    gallery: Gallery | None = None,
    storage: str = "local",
) -> list[Verdict]:
    """The targets, on the 2-worker figures (the gallery's on its own run). A verdict's
    `passed` is None when it is not judged: a smoke run, or no 2-worker run. `storage`
    picks the static target: a local file's, or the bucket's through the cache."""
    two = [c for c in comparisons if c.workers == TARGET_WORKERS]
    first = lambda key: next((c for c in two if c.key == key), None)
    p99 = lambda c: of(c.imagehost, lambda s: s.load.p99_ms) if c else None
    s1, s2, s3, s6 = first("S1"), first("S2"), first("S3"), first("S6")
    gallery_bytes = max((w.image_bytes for w in gallery.rounds), default=None) if gallery else None
    listings = [c for c in two if c.key == "S4" and "deep" not in c.title]
    small, large = (listings[0], listings[-1]) if listings else (None, None)
    size = lambda c: c.title.split(", ")[-1] if c else "?"
    peaks = peak_rss_mib(s2.imagehost) if s2 else {}
    start = next((s for s in startups if s.workers == TARGET_WORKERS), None)
    growth = p99(large) / p99(small) if small and p99(small) else None
    static_ratio = STATIC_RATIO_S3 if storage == "s3" else STATIC_RATIO
    static_source = "through the cache, once warm, " if storage == "s3" else ""

    def verdict(target: str, goal: str, value: float | None, ok: Callable[[float], bool], shown: str) -> Verdict:
        passed = ok(value) if judged and value is not None else None
        return Verdict(target, goal, "-" if value is None else shown.format(value), passed)

    filtered = []
    for key, what in (("S7", "tag filter"), ("S8", "search")):
        runs = [c for c in two if c.key == key]
        # The growth target is from 10,000 images to the largest size.
        base_run = next((c for c in runs if c.title.endswith(" 10,000 images")), runs[0] if runs else None)
        top = runs[-1] if runs else None
        filtered += [
            verdict(
                f"{key} {what}: p99 at {size(top)}",
                f"under {FILTERED_P99_MS:g} ms",
                p99(top),
                lambda v: v < FILTERED_P99_MS,
                "{:.1f} ms",
            ),
            verdict(
                f"{key} {what}: p99 at {size(top)} / p99 at {size(base_run)}",
                f"at most {FILTERED_GROWTH:g}",
                p99(top) / p99(base_run) if base_run and p99(base_run) and top is not base_run else None,
                lambda v: v <= FILTERED_GROWTH,
                "{:.3f}",
            ),
        ]

    return [
        verdict(
            "S1 200 KiB upload: req/s",
            f"at least {UPLOAD_RATIO:.2f} of the ceiling",
            ratio(s1) if s1 else None,
            lambda v: v >= UPLOAD_RATIO,
            "{:.3f}",
        ),
        verdict(
            "S1 200 KiB upload: p99",
            f"under {SMALL_UPLOAD_P99_MS:g} ms",
            p99(s1),
            lambda v: v < SMALL_UPLOAD_P99_MS,
            "{:.1f} ms",
        ),
        verdict(
            "S2 4.5 MiB upload: req/s",
            f"at least {UPLOAD_RATIO:.2f} of the ceiling",
            ratio(s2) if s2 else None,
            lambda v: v >= UPLOAD_RATIO,
            "{:.3f}",
        ),
        verdict(
            "S3 static GET: req/s",
            f"{static_source}at least {static_ratio:.2f} of nginx serving the same file",
            ratio(s3) if s3 else None,
            lambda v: v >= static_ratio,
            "{:.3f}",
        ),
        verdict(
            f"S4 listing: p99 at {size(large)}",
            f"under {LISTING_P99_MS:g} ms",
            p99(large),
            lambda v: v < LISTING_P99_MS,
            "{:.1f} ms",
        ),
        verdict(
            f"S4 listing: p99 at {size(large)} / p99 at {size(small)}",
            f"at most {LISTING_GROWTH:g}",
            growth,
            lambda v: v <= LISTING_GROWTH,
            "{:.3f}",
        ),
        *filtered,
        verdict(
            "worker memory: peak RSS during S2, largest worker",
            f"under {WORKER_PEAK_RSS_MIB:g} MiB",
            max(peaks.values()) if peaks else None,
            lambda v: v < WORKER_PEAK_RSS_MIB,
            "{:.1f} MiB",
        ),
        verdict(
            f"start-up with {start.images:,} images" if start else "start-up",
            f"under {STARTUP_S:g} s",
            median(start.seconds) if start else None,
            lambda v: v < STARTUP_S,
            "{:.2f} s",
        ),
        verdict(
            "S6 previews: upload req/s with previews / without",
            f"at least {PREVIEW_UPLOAD_RATIO:.2f}",
            ratio(s6) if s6 else None,
            lambda v: v >= PREVIEW_UPLOAD_RATIO,
            "{:.3f}",
        ),
        verdict(
            "S6 previews: upload p99 with previews less without",
            f"at most +{PREVIEW_P99_GROWTH_MS:g} ms",
            p99_growth(s6) if s6 else None,
            lambda v: v <= PREVIEW_P99_GROWTH_MS,
            "{:+.1f} ms",
        ),
        verdict(
            f"G1 gallery: image bytes for {gallery.photos if gallery else '?'} photos of 3000x2000, largest round",
            f"at most {GALLERY_IMAGE_BYTES:,} bytes",
            gallery_bytes,
            lambda v: v <= GALLERY_IMAGE_BYTES,
            "{:,.0f} bytes",
        ),
        verdict(
            "G1 gallery: visible tiles drawn after navigation",
            f"within {GALLERY_DRAWN_MS:,.0f} ms",
            _gallery_drawn_ms(gallery),
            lambda v: v <= GALLERY_DRAWN_MS,
            "{:.0f} ms",
        ),
    ]


def verdict_rows(results: list[Verdict]) -> list[str]:
    return table(
        ["target (2 workers, medians)", "goal", "figure", "verdict"],
        [[v.target, v.goal, v.figure, v.word] for v in results],
    )


def upload_cpu_rows(uploads: UploadCpu) -> list[str]:
    """U1: each way's backend CPU ms per upload by process group, and direct over /upload."""
    names = {UPLOAD: "/upload (through the backend)", DIRECT: "direct (presigned POST to the bucket)"}
    rows = [
        [
            names[way],
            f"{uploads.uploads} x {len(uploads.rounds.get(way, []))}",
            *(_number(uploads.ms_per_upload(way, group), "cpu") for group in GROUPS),
            _number(uploads.ms_per_upload(way), "cpu"),
        ]
        for way in (UPLOAD, DIRECT)
        if way in uploads.rounds
    ]
    header = ["way", "uploads x rounds", *(f"{group} CPU ms/upload" for group in GROUPS), "backend CPU ms/upload"]
    lines = table(header, rows)
    mine, theirs = uploads.ms_per_upload(DIRECT), uploads.ms_per_upload(UPLOAD)
    if uploads.not_measured:
        lines += ["", f"Direct uploads not measured: {uploads.not_measured}."]
    elif mine is not None and theirs:
        lines += ["", f"Backend CPU per upload, direct / /upload: {mine / theirs:.2f}"]
    return lines


def ceiling_legend(comparisons: list[Comparison]) -> list[str]:
    seen: dict[str, str] = {}
    for c in comparisons:
        seen.setdefault(c.key, c.ceiling_title)
    return [f"- {key}: {title}" for key, title in sorted(seen.items())]


def notes(comparisons: list[Comparison]) -> list[str]:
    return [f"- {c.workers} workers, {c.key} {c.title}: {note}" for c in comparisons for note in c.notes]


def other_load(comparisons: list[Comparison]) -> tuple[float, float] | None:
    values = [s.other_cpu_percent for c in comparisons for s in (*c.imagehost, *c.ceiling)]
    return (statistics.median(values), max(values)) if values else None


def floor_rows(floors: list[Floor], comparisons: list[Comparison]) -> list[str]:
    """The storage floor beside the ceiling and imagehost for the same upload size."""
    rows = []
    for floor in floors:
        key = "S1" if floor.size == SMALL_IMAGE_BYTES else "S2"
        same = next((c for c in comparisons if c.key == key and c.workers == floor.processes), None)
        ceiling_rate = of(same.ceiling, lambda s: s.load.rate) if same else None
        imagehost_rate = of(same.imagehost, lambda s: s.load.rate) if same else None
        rows.append(
            [
                str(floor.processes),
                f"{floor.threads}",
                f"{key}, {floor.size // 1024:,} KiB",
                _number(floor.rate, "rate"),
                _number(floor.cpu_ms_per_upload, "cpu"),
                _number(imagehost_rate, "rate"),
                _number(ceiling_rate, "rate"),
                _number(floor.rate / ceiling_rate if ceiling_rate else None, "ratio"),
            ]
        )
    return table(
        [
            "processes",
            "threads each",
            "upload",
            "storage steps/s",
            "CPU ms/upload",
            "imagehost req/s",
            "ceiling req/s",
            "storage floor / ceiling",
        ],
        rows,
    )


def steal(comparisons: list[Comparison]) -> tuple[float, float] | None:
    """Median and largest share of the CPUs the hypervisor kept during a run, in %."""
    values = [s.steal_percent for c in comparisons for s in (*c.imagehost, *c.ceiling)]
    return (statistics.median(values), max(values)) if values else None
