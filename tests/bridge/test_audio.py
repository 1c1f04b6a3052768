"""Audio for WhatsApp: Discuss's MP3 voice messages become Ogg/Opus voice notes."""

from __future__ import annotations

import pytest

from whatsapp_bridge import audio

from .helpers import audio_seconds, make_mp3


def test_discuss_mp3_voice_message_becomes_an_ogg_opus_voice_note():
    mp3 = make_mp3(3.0)
    result = audio.for_whatsapp(mp3, "audio/mp3", "Voice message.mp3", voice=True)
    assert result.mimetype == "audio/ogg; codecs=opus"
    assert result.filename == "Voice message.ogg"
    assert audio.is_ogg_opus(result.content)
    codec, seconds = audio_seconds(result.content)
    assert codec == "opus" and seconds == pytest.approx(3.0, abs=0.1), "the whole recording, nothing cut"


def test_a_voice_note_already_in_ogg_opus_is_sent_as_it_is():
    ogg = audio.to_ogg_opus(make_mp3(1.0))
    result = audio.for_whatsapp(ogg, "audio/ogg", "nota.ogg", voice=True)
    assert result.content == ogg and result.mimetype == "audio/ogg; codecs=opus"


def test_plain_audio_keeps_a_supported_type_and_renames_the_mp3_alias():
    mp3 = make_mp3(1.0)
    result = audio.for_whatsapp(mp3, "audio/mp3", "song.mp3", voice=False)
    assert result.content == mp3 and result.mimetype == "audio/mpeg" and result.filename == "song.mp3"


def test_audio_of_a_type_whatsapp_refuses_is_converted():
    recording = make_mp3(1.0)  # any decodable audio, declared as WebM, a type Meta refuses
    result = audio.for_whatsapp(recording, "audio/webm", "memo.webm", voice=False)
    assert result.mimetype == "audio/ogg; codecs=opus" and result.filename == "memo.ogg"
    assert audio.is_ogg_opus(result.content)


def test_unreadable_audio_is_refused_with_a_reason():
    with pytest.raises(audio.AudioError, match="not a readable audio file"):
        audio.for_whatsapp(b"this is not audio at all" * 10, "audio/mp3", "broken.mp3", voice=True)
