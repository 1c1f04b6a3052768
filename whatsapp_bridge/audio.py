"""Audio as WhatsApp takes it: voice notes in ogg/opus, other audio in a type Meta supports.

Odoo 18's Discuss records voice messages as MP3 (``audio/mp3``, which is not even a type
Meta accepts). A WhatsApp voice note is an Ogg/Opus file, so a voice attachment is
converted with PyAV (FFmpeg's binding; its wheels carry the Opus encoder): 48 kHz mono,
32 kbit/s, like the voice notes WhatsApp's own apps record. Other audio keeps its bytes when
Meta supports its type (an ``audio/mp3`` alias is renamed ``audio/mpeg``) and is converted
to Ogg/Opus otherwise (WAV, WebM, ...).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import PurePath

import av

OGG_OPUS = "audio/ogg; codecs=opus"
# Meta's supported audio types (https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media)
SUPPORTED = frozenset({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"})
ALIASES = {"audio/mp3": "audio/mpeg", "audio/x-mp3": "audio/mpeg", "audio/mpeg3": "audio/mpeg",
           "audio/x-mpeg": "audio/mpeg", "audio/x-m4a": "audio/mp4", "audio/m4a": "audio/mp4",
           "audio/x-aac": "audio/aac"}
VOICE_RATE = 48_000
VOICE_BITRATE = 32_000


class AudioError(ValueError):
    """The file could not be read as audio (the message fails with this reason)."""


@dataclass(frozen=True)
class Audio:
    content: bytes
    mimetype: str
    filename: str


def is_ogg_opus(content: bytes) -> bool:
    # the first Ogg page carries the codec's identification header
    return content[:4] == b"OggS" and b"OpusHead" in content[:128]


def for_whatsapp(content: bytes, mimetype: str, filename: str, voice: bool) -> Audio:
    base = (mimetype or "").split(";", 1)[0].strip().lower()
    base = ALIASES.get(base, base)
    if is_ogg_opus(content):
        return Audio(content, OGG_OPUS, _with_suffix(filename, ".ogg"))
    if not voice and base in SUPPORTED and base != "audio/ogg":
        return Audio(content, base, filename)
    return Audio(to_ogg_opus(content), OGG_OPUS, _with_suffix(filename, ".ogg"))


def to_ogg_opus(content: bytes) -> bytes:
    """Any audio FFmpeg reads -> Ogg/Opus, mono, 48 kHz. Raises ``AudioError`` naming the problem."""
    out = io.BytesIO()
    try:
        with av.open(io.BytesIO(content)) as source:
            if not source.streams.audio:
                raise AudioError("the file has no audio track")
            track = source.streams.audio[0]
            with av.open(out, "w", format="ogg") as target:
                stream = target.add_stream("libopus", rate=VOICE_RATE)
                stream.layout = "mono"
                stream.bit_rate = VOICE_BITRATE
                resampler = av.AudioResampler(format="s16", layout="mono", rate=VOICE_RATE)
                frames = 0
                for frame in source.decode(track):
                    for resampled in resampler.resample(frame):
                        frames += 1
                        target.mux(stream.encode(resampled))
                for resampled in resampler.resample(None):
                    target.mux(stream.encode(resampled))
                target.mux(stream.encode(None))
                if not frames:
                    raise AudioError("the audio track is empty")
    except AudioError:
        raise
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise AudioError(f"not a readable audio file ({exc})") from exc
    return out.getvalue()


def _with_suffix(filename: str, suffix: str) -> str:
    path = PurePath(filename or "voice")
    return path.name if path.suffix.lower() == suffix else f"{path.stem or 'voice'}{suffix}"
