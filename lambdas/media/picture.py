"""How a source's picture is made viewable before scaling: deinterlaced, upright, SDR BT.709 8-bit.

`picture_filters` returns the ffmpeg filters, in order, that every consumer of decoded source frames (chunk
encodes, stills, storyboard, the quality reference) applies before its own scaling. It is the three steps
below, each also available on its own so that a chunk can put its trim and frame-rate filters between them:

1. `deinterlace_filters`: bwdif, one frame per frame (send_frame), on the source's own frames, so it sees
   each frame's true neighbours (before any trim or fps filter drops or repeats one).
2. `colour_filters`: to limited-range BT.709 yuv420p, tone-mapped when the source is HDR.
3. `upright_filters`: the display rotation applied to the pixels (players are told nothing: the outputs
   carry no display matrix), on the 8-bit 4:2:0 picture step 2 made, the cheapest one to turn.

Colour. zscale is told each input's transfer, primaries and matrix: zimg takes what a frame leaves untagged
as "unspecified" and finds no path to convert it, and ffmpeg 6.0 then hangs instead of failing. The input
range is never forced: decoders tag it from the bitstream, ffmpeg's automatic format conversions (yuvj* to
yuv*) keep the tag true but not always the values, so a forced range converted some files twice.
HDR (PQ or HLG) is linearised with zimg, 1.0 = 100 cd/m² (npl=100), converted to BT.709 primaries in
linear light, tone-mapped with Möbius (linear up to 0.3 of SDR white, then a smooth roll-off to the signal
peak: 1000 cd/m² unless the stream says otherwise) without desaturation, and encoded as BT.709. zimg
applies the HLG OOTF for a 1000 cd/m² display, so HLG's reference white (75 %) and PQ's (203 cd/m²) both
land at 93 % of SDR white (Y' 218); Hable puts them at 75 % (182) and the picture looks dull.
SDR is converted only where it is not already BT.709 limited-range 8-bit 4:2:0: other matrices (BT.601 for
SD sources, tagged or, when untagged, guessed from the frame size as players guess) to BT.709 and full
range to limited with the colorspace filter (matrix and range only: at 4:2:0 as it is, 6 dB RGB PSNR
nearer the source than zimg's round trip through 4:4:4), wide-gamut (BT.2020, P3) primaries to BT.709 in
linear light with zimg, anything else only to yuv420p. The 601 family's own primaries (SMPTE C, EBU) are
left as they are: they differ from BT.709's by less than the eye notices, and converting them would need
their transfer, which SD files seldom state.
"""

from __future__ import annotations

from lambdas.media.probe import VideoStream

OUTPUT_PIX_FMT = "yuv420p"
# The BT.709 tags every rendition carries (H.264 VUI), as ffmpeg names them: what colour_filters produce.
OUTPUT_COLOUR = {"color_primaries": "bt709", "color_trc": "bt709", "colorspace": "bt709", "color_range": "tv"}

# Where a player turns the picture clockwise by this much, the pixels are turned instead.
_ROTATE: dict[int, list[str]] = {90: ["transpose=clock"], 180: ["hflip", "vflip"], 270: ["transpose=cclock"]}

# ffprobe's names that zscale reads as they are.
_MATRICES = frozenset({"bt709", "fcc", "bt470bg", "smpte170m", "smpte240m", "ycgco", "bt2020nc", "bt2020c"})
# The matrices the colorspace filter converts from (ffprobe's names).
_COLORSPACE_MATRICES = frozenset({"bt709", "fcc", "bt470bg", "smpte170m", "smpte240m", "ycgco", "bt2020nc"})
# The same matrices as swscale (the scale filter) names them.
_SWSCALE_MATRICES = {"bt709": "bt709", "fcc": "fcc", "bt470bg": "bt601", "smpte170m": "bt601", "smpte240m": "smpte240m"}
# zimg's chroma resampling: spline36 keeps a PQ round trip 4 dB nearer the source than its bilinear default.
_ZSCALE_FILTER = "f=spline36"
_PRIMARIES = frozenset(
    {"bt709", "bt470m", "bt470bg", "smpte170m", "smpte240m", "film", "bt2020", "smpte428", "smpte431", "smpte432"}
)
_WIDE_GAMUT = frozenset({"bt2020", "smpte431", "smpte432"})
# ffprobe's transfer names → zscale's, for the SDR ones a gamut conversion has to undo.
_SDR_TRANSFERS = {
    "bt709": "bt709",
    "smpte170m": "smpte170m",
    "bt2020-10": "bt2020-10",
    "bt2020-12": "bt2020-12",
    "smpte240m": "smpte240m",
    "gamma22": "bt470m",
    "gamma28": "bt470bg",
    "iec61966-2-1": "iec61966-2-1",
}
_HDR_TRANSFERS = {"pq": "smpte2084", "hlg": "arib-std-b67"}
_RGB_PREFIXES = ("rgb", "bgr", "gbr", "argb", "abgr", "0rgb", "0bgr", "x2rgb", "x2bgr")

NOMINAL_PEAK_NITS = 100  # linear 1.0 in the tone-mapping step: SDR white
TONE_MAP = "mobius"


def picture_filters(video: VideoStream) -> list[str]:
    """Filters applied to decoded source frames before any scaling (may be empty)."""
    return [*deinterlace_filters(video), *colour_filters(video), *upright_filters(video)]


def deinterlace_filters(video: VideoStream) -> list[str]:
    """bwdif, one output frame per input frame, field parity from the probed field order.

    "tb" and "bt" are ambiguous between muxers (QuickTime: bottom shown first; older FFmpeg wrote "tb" for
    top-first content): there bwdif reads each frame's own flag, which the decoder takes from the bitstream.
    """
    if not video.interlaced:
        return []
    parity = {"tt": "tff", "bb": "bff"}.get(video.field_order or "", "auto")
    return [f"bwdif=mode=send_frame:parity={parity}:deint=all"]


def upright_filters(video: VideoStream) -> list[str]:
    """The clockwise display rotation, applied to the pixels (0: nothing)."""
    return list(_ROTATE.get(video.rotation % 360, []))


def colour_filters(video: VideoStream) -> list[str]:
    """To SDR BT.709, limited range, 8-bit 4:2:0 (empty when the source already is)."""
    if video.hdr is not None:
        return _tone_map(video)
    pix_fmt = video.pix_fmt or ""
    if pix_fmt.startswith(_RGB_PREFIXES):
        return ["scale=out_color_matrix=bt709:out_range=tv", f"format={OUTPUT_PIX_FMT}"]
    matrix = source_matrix(video)
    full_range = video.color_range == "pc" or pix_fmt.startswith("yuvj")
    primaries = video.color_primaries if video.color_primaries in _PRIMARIES else None
    if primaries in _WIDE_GAMUT:
        transfer = _SDR_TRANSFERS.get(video.color_transfer or "", "bt709")
        return [
            f"zscale=tin={transfer}:pin={primaries}:min={matrix}:t=bt709:p=bt709:m=bt709:r=tv:{_ZSCALE_FILTER}",
            f"format={OUTPUT_PIX_FMT}",
        ]
    if matrix != "bt709" or full_range:
        return [_matrix_conversion(video, matrix), f"format={OUTPUT_PIX_FMT}"]
    if pix_fmt and pix_fmt != OUTPUT_PIX_FMT:
        return [f"format={OUTPUT_PIX_FMT}"]  # 10-bit, 4:2:2, 4:4:4: fewer bits and chroma samples only
    return []


def _matrix_conversion(video: VideoStream, matrix: str) -> str:
    """The one filter that takes an SDR picture's matrix and range to BT.709 limited range."""
    if video.width % 2 or video.height % 2:
        # colorspace and zscale refuse odd 4:2:0 sizes (720x405: "Invalid odd size"); swscale converts them.
        return f"scale=in_color_matrix={_SWSCALE_MATRICES.get(matrix, 'bt709')}:out_color_matrix=bt709:out_range=tv"
    if matrix in _COLORSPACE_MATRICES:
        # Matrix and range only (fast=1); the primaries and transfer it then ignores must still be named.
        return f"colorspace=ispace={matrix}:iprimaries=bt709:itrc=bt709:all=bt709:range=tv:fast=1"
    return f"zscale=min={matrix}:m=bt709:r=tv:{_ZSCALE_FILTER}"


def source_matrix(video: VideoStream) -> str:
    """The YCbCr matrix the source was made with: as tagged, else as players guess it from the frame size
    (BT.601 for SD: narrower than 1280 and at most 576 lines; BT.709 otherwise)."""
    if video.color_space in _MATRICES:
        return video.color_space
    standard_definition = video.width < 1280 and video.height <= 576
    return "smpte170m" if standard_definition else "bt709"


def _tone_map(video: VideoStream) -> list[str]:
    transfer = _HDR_TRANSFERS[video.hdr or ""]
    primaries = video.color_primaries if video.color_primaries in _PRIMARIES else "bt2020"
    matrix = video.color_space if video.color_space in _MATRICES else "bt2020nc"
    return [
        f"zscale=tin={transfer}:pin={primaries}:min={matrix}:t=linear:p=bt709:npl={NOMINAL_PEAK_NITS}:"
        + _ZSCALE_FILTER,
        "format=gbrpf32le",
        f"tonemap=tonemap={TONE_MAP}:desat=0",
        f"zscale=tin=linear:pin=bt709:t=bt709:p=bt709:m=bt709:r=tv:{_ZSCALE_FILTER}",
        f"format={OUTPUT_PIX_FMT}",
    ]
