"""Camera-like files made in code: what a phone writes around the pixels.

Pillow writes the images, their EXIF (a GPS position, Make, Model, Artist, Software and
an Orientation), ICC profiles and PNG text chunks; the XMP, IPTC and GIF application
extension are built by hand, the way Photoshop and exiftool lay them out. Every private
string the files carry is in PRIVATE, so a test can look for it in the served bytes.
"""

from __future__ import annotations

import functools
import io
import random
import struct

from PIL import Image, ImageCms, PngImagePlugin

MAKE, MODEL, ARTIST, SOFTWARE = "Phonemaker", "Pocket 12 Pro", "Jane Q. Photographer", "CameraApp 7.1"
XMP_TEXT = "xmp-creator-jane"
IPTC_TEXT = "iptc-byline-jane"
COMMENT_TEXT = "comment-from-jane"
PNG_TEXT = "text-chunk-from-jane"
# Tags of EXIF IFD0 and the GPS IFD pointer.
MAKE_TAG, MODEL_TAG, ARTIST_TAG, SOFTWARE_TAG, ORIENTATION_TAG, GPS_IFD = 0x010F, 0x0110, 0x013B, 0x0131, 0x0112, 0x8825
PRIVATE = [MAKE, MODEL, ARTIST, SOFTWARE, XMP_TEXT, IPTC_TEXT, COMMENT_TEXT, PNG_TEXT]


@functools.cache  # a new profile carries the time it was made: one per run, so they compare equal
def icc_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def exif(orientation: int) -> Image.Exif:
    """EXIF as a phone writes it: camera, owner, software, orientation and a GPS position."""
    tags = Image.Exif()
    tags[MAKE_TAG], tags[MODEL_TAG], tags[ARTIST_TAG], tags[SOFTWARE_TAG] = MAKE, MODEL, ARTIST, SOFTWARE
    tags[ORIENTATION_TAG] = orientation
    gps = tags.get_ifd(GPS_IFD)
    gps.update({1: "N", 2: (52.0, 31.0, 12.5), 3: "E", 4: (13.0, 24.0, 36.25)})
    return tags


def picture(width: int, height: int, mode: str = "RGB", seed: int = 7) -> Image.Image:
    """Noisy pixels, so that a changed byte of the compressed data shows in the decoded ones."""
    rng = random.Random(seed)
    bands = len(mode)
    return Image.frombytes(mode, (width, height), bytes(rng.randrange(256) for _ in range(width * height * bands)))


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", 2 + len(payload)) + payload


def xmp_packet() -> bytes:
    return (
        b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        b'xmlns:dc="http://purl.org/dc/elements/1.1/" dc:creator="' + XMP_TEXT.encode() + b'"/>'
        b'</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    )


def iptc_resource() -> bytes:
    """Photoshop's APP13: an 8BIM image resource 0x0404 holding the IPTC By-line (2:80)."""
    byline = IPTC_TEXT.encode()
    iptc = b"\x1c\x02\x50" + struct.pack(">H", len(byline)) + byline
    resource = b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(iptc)) + iptc
    return b"Photoshop 3.0\x00" + resource


def camera_jpeg(orientation: int, width: int = 48, height: int = 32) -> bytes:
    """A JPEG with EXIF (GPS, camera, owner, software, `orientation`), an ICC profile,
    XMP in a second APP1, IPTC in APP13 and a COM segment."""
    out = io.BytesIO()
    picture(width, height).save(out, "JPEG", quality=90, exif=exif(orientation).tobytes(), icc_profile=icc_profile())
    data = out.getvalue()
    extra = (
        _jpeg_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + xmp_packet())
        + _jpeg_segment(0xED, iptc_resource())
        + _jpeg_segment(0xFE, COMMENT_TEXT.encode())
    )
    return data[:2] + extra + data[2:]


def camera_png(orientation: int, width: int = 40, height: int = 24) -> bytes:
    """An RGBA PNG with eXIf (GPS, camera, owner, `orientation`), iCCP, tEXt, zTXt, iTXt
    (XMP among them) and tIME."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", PNG_TEXT)
    info.add_text("Comment", COMMENT_TEXT, zip=True)
    info.add_itxt("XML:com.adobe.xmp", xmp_packet().decode())
    info.add(b"tIME", struct.pack(">HBBBBB", 2026, 11, 27, 10, 0, 0))
    out = io.BytesIO()
    picture(width, height, "RGBA").save(
        out, "PNG", pnginfo=info, exif=exif(orientation).tobytes(), icc_profile=icc_profile()
    )
    return out.getvalue()


def camera_gif(width: int = 30, height: int = 20) -> bytes:
    """An animated GIF (two frames, looping) with a comment and an XMP application
    extension ("XMP DataXMP", the XMP packet, then the 258-byte "magic trailer")."""
    frames = [picture(width, height, "RGB", seed).convert("P") for seed in (1, 2)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], loop=0, duration=100, comment=COMMENT_TEXT)
    data = out.getvalue()
    xmp = xmp_packet() + b"\x01" + bytes(range(255, -1, -1)) + b"\x00"
    extension = b"\x21\xff\x0bXMP DataXMP" + xmp
    screen_end = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    return data[:screen_end] + extension + data[screen_end:]


def pixels(data: bytes) -> list[bytes]:
    """Every frame's decoded pixels, as RGBA."""
    frames = []
    with Image.open(io.BytesIO(data)) as image:
        for index in range(getattr(image, "n_frames", 1)):
            image.seek(index)
            frames.append(image.convert("RGBA").tobytes())
    return frames


def camera_webp(kind: str, width: int = 40, height: int = 24) -> bytes:
    """A WebP ("lossy", "lossless" or "animated") with EXIF (GPS, camera, owner,
    orientation 6), XMP and an ICC profile, in a VP8X file."""
    out = io.BytesIO()
    options = {"exif": exif(6).tobytes(), "xmp": xmp_packet(), "icc_profile": icc_profile()}
    if kind == "animated":
        frames = [picture(width, height, "RGBA", seed) for seed in (1, 2)]
        frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], duration=100, lossless=True, **options)
    else:
        picture(width, height, "RGBA").save(out, "WEBP", lossless=kind == "lossless", quality=80, **options)
    return out.getvalue()


def camera_avif(orientation: int, width: int = 40, height: int = 24) -> bytes:
    """An AVIF with alpha, EXIF (GPS, camera, owner, `orientation`, which Pillow also
    writes as irot and imir properties), XMP and an ICC profile: EXIF and XMP are items
    of the meta box, their bytes in mdat beside the pixels'."""
    out = io.BytesIO()
    picture(width, height, "RGBA").save(
        out, "AVIF", quality=90, exif=exif(orientation).tobytes(), xmp=xmp_packet(), icc_profile=icc_profile()
    )
    return out.getvalue()
