"""Conversation scripts: `say` turns spoken by the real espeak-ng voice, recordings, pauses, the cache, bad scripts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avatarlab.config_args import from_config
from avatarlab.errors import UserInputError
from avatarlab.runtime.tts import EspeakTTS, Utterance
from avatarlab.simulate.script import Script, load_script

RATE = 16000


@pytest.fixture(scope="module")
def voice() -> EspeakTTS:
    return from_config("serve/tts/espeak.yaml")


class CountingVoice:
    """The real voice, counting its calls; with `broken`, any call fails (the cache must answer instead)."""

    def __init__(self, real: EspeakTTS, broken: bool = False) -> None:
        self.engine = real.engine
        self.voice = real.voice
        self.real = real
        self.broken = broken
        self.calls: list[str] = []

    def synthesize(self, text: str) -> Utterance:
        self.calls.append(text)
        if self.broken:
            raise AssertionError(f"the voice was asked for {text!r}: the cache was not used")
        return self.real.synthesize(text)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def recording(path: Path, rate: int = 22050) -> Path:
    """0.3 s silence, 0.5 s of a loud tone, 0.4 s silence (at a rate the loader must resample)."""
    t = np.arange(round(0.5 * rate)) / rate
    audio = np.concatenate(
        [np.zeros(round(0.3 * rate)), 0.5 * np.sin(2 * np.pi * 220 * t), np.zeros(round(0.4 * rate))]
    ).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, rate)
    return path


def longest_zero_run(audio: np.ndarray) -> tuple[int, int]:
    """The length and first sample of the longest stretch of exact zeros."""
    edges = np.diff(np.concatenate([[0], (audio == 0).astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    best = int(np.argmax(ends - starts))
    return int(ends[best] - starts[best]), int(starts[best])


SCRIPT = """\
name: unit
echo: {gain: 0.25, delay_s: 0.2}
end_s: 2.5
turns:
  - say: "Hello there [pause 0.6] how are you?"
  - say: "Hello there [pause 0] how are you?"
    kind: pause
  - say: "Hello there how are you?"
  - audio: sounds/tone.wav
    kind: barge_in
    after: reply_start
    wait_s: 0.3
  - audio: sounds/tone.wav
    clip: [0.2, 1.0]
    text: a tone
"""


def test_a_script_loads_with_spoken_turns_recordings_and_pauses(voice: EspeakTTS, tmp_path: Path) -> None:
    recording(tmp_path / "scripts" / "sounds" / "tone.wav")
    path = write(tmp_path / "scripts" / "unit.yaml", SCRIPT)
    script = load_script(path, voice, tmp_path / "cache")
    assert isinstance(script, Script)
    assert (script.name, script.path, script.end_s) == ("unit", path, 2.5)
    assert (script.echo_gain, script.echo_delay_s) == (0.25, 0.2)
    paused, unpaused, plain, tone, clip = script.turns
    assert [t.kind for t in script.turns] == ["turn", "pause", "turn", "barge_in", "turn"]
    assert [t.after for t in script.turns] == ["reply_end"] * 3 + ["reply_start", "reply_end"]
    assert [t.wait_s for t in script.turns] == [0.8, 0.8, 0.8, 0.3, 0.8]
    assert "[pause" not in paused.text and paused.text.split() == "Hello there how are you?".split()

    for turn in script.turns:
        assert turn.audio.dtype == np.float32 and turn.audio.ndim == 1
        start, end = turn.speech
        assert 0.0 <= start < end <= turn.duration, (turn.kind, turn.speech, turn.duration)
    for turn in (paused, unpaused, plain):
        assert np.abs(turn.audio).max() > 0.05  # there is speech in it
        assert turn.speech[0] >= 0.15 and turn.speech[1] <= turn.duration - 0.25  # lead and tail silence

    # [pause 0.6] adds 0.6 s of silence inside the speech: to the audio and to the speech's end
    assert paused.duration - unpaused.duration == pytest.approx(0.6, abs=1e-3)
    assert paused.speech[0] == pytest.approx(unpaused.speech[0], abs=1e-3)
    assert paused.speech[1] - unpaused.speech[1] == pytest.approx(0.6, abs=1e-3)
    assert 0.6 <= paused.duration - plain.duration <= 1.0  # plus espeak's own edges of two phrases instead of one
    run, at = longest_zero_run(paused.audio)
    assert run >= round(0.6 * RATE) and paused.speech[0] < at / RATE < paused.speech[1]
    assert longest_zero_run(unpaused.audio)[0] < round(0.6 * RATE)

    # the recording: resampled to 16 kHz, its speech found by loudness; a clip cuts it
    assert tone.text == "tone" and tone.duration == pytest.approx(1.2, abs=0.01)
    assert tone.speech == pytest.approx((0.3, 0.8), abs=0.025)
    assert clip.text == "a tone" and clip.duration == pytest.approx(0.8, abs=0.01)
    assert clip.speech == pytest.approx((0.1, 0.6), abs=0.025)
    np.testing.assert_allclose(clip.audio, tone.audio[round(0.2 * RATE) : round(1.0 * RATE)], atol=1e-6)


def test_a_relative_audio_path_is_also_found_from_the_working_directory(
    voice: EspeakTTS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording(tmp_path / "work" / "media" / "tone.wav")
    path = write(tmp_path / "scripts" / "cwd.yaml", "turns:\n  - audio: media/tone.wav\n")
    monkeypatch.chdir(tmp_path / "work")
    script = load_script(path, None, tmp_path / "cache")  # no `say`: no voice needed
    assert script.name == "cwd" and script.echo_gain == 0.0 and script.turns[0].duration == pytest.approx(1.2, abs=0.01)


def test_spoken_turns_are_cached_and_reused(voice: EspeakTTS, tmp_path: Path) -> None:
    path = write(tmp_path / "s.yaml", 'turns:\n  - say: "Good morning [pause 0.3] to you."\n  - say: "Fine, thanks."\n')
    cache = tmp_path / "cache"
    first_voice = CountingVoice(voice)
    first = load_script(path, first_voice, cache)
    assert first_voice.calls == ["Good morning", "to you.", "Fine, thanks."]
    assert len(list(cache.glob("*.wav"))) == 2 and len(list(cache.glob("*.span"))) == 2
    broken = CountingVoice(voice, broken=True)
    second = load_script(path, broken, cache)
    assert broken.calls == []
    for a, b in zip(first.turns, second.turns, strict=True):
        np.testing.assert_allclose(a.audio, b.audio, atol=1e-4)  # 16-bit wav round trip
        assert a.speech == pytest.approx(b.speech) and a.text == b.text
    other = write(tmp_path / "other.yaml", 'turns:\n  - say: "Something new."\n')
    with pytest.raises(AssertionError, match="cache was not used"):
        load_script(other, broken, cache)  # new text: not in the cache


BAD = [
    ("turns: [a", "not valid YAML"),
    ("turns: []", "non-empty list `turns`"),
    ("- say: hi", "non-empty list `turns`"),
    ("turns:\n  - say: hi\nvoice: en\n", r"unknown keys \['voice'\]"),
    ("turns:\n  - say: hi\n    speed: 2\n", r"turn 1: unknown keys \['speed'\]"),
    ("turns:\n  - say: hi\n    audio: tone.wav\n", "turn 1 needs exactly one of say and audio"),
    ("turns:\n  - kind: turn\n", "turn 1 needs exactly one of say and audio"),
    ("turns:\n  - say: hi\n    kind: monologue\n", "turn 1: kind 'monologue'"),
    ("turns:\n  - say: hi\n  - say: ok\n    after: reply_middle\n", "turn 2: after 'reply_middle'"),
    ("turns:\n  - say: hi\n    wait_s: 61\n", "turn 1: wait_s 61"),
    ("turns:\n  - audio: missing.wav\n", "turn 1: no audio file missing.wav"),
    ("turns:\n  - audio: tone.wav\n    clip: [1.0, 0.5]\n", r"turn 1: clip \[1.0, 0.5\]"),
    ("turns:\n  - audio: tone.wav\n    clip: [0.5]\n", r"turn 1: clip \[0.5\]"),
    ("turns:\n  - audio: tone.wav\n    clip: [1.15, 1.2]\n", "less than 0.1 s"),
    ("echo: {gain: 1.5}\nturns:\n  - say: hi\n", "echo gain 1.5"),
    ("echo: {delay_s: -0.1}\nturns:\n  - say: hi\n", "echo delay_s -0.1 is out of range"),
    ("echo: {gain: 0.2, room: big}\nturns:\n  - say: hi\n", "echo must be a mapping"),
    ("turns:\n  - hello\n", "turn 1 must be a mapping"),
]


@pytest.mark.parametrize(("text", "problem"), BAD)
def test_bad_scripts_are_refused_clearly(voice: EspeakTTS, tmp_path: Path, text: str, problem: str) -> None:
    recording(tmp_path / "tone.wav")
    path = write(tmp_path / "bad.yaml", text)
    with pytest.raises(UserInputError, match=problem) as caught:
        load_script(path, voice, tmp_path / "cache")
    assert str(path) in caught.value.problem and caught.value.fix


@pytest.mark.parametrize(
    "text",
    ["echo: {gain: loud}\nturns:\n  - say: hi\n", "end_s: soon\nturns:\n  - say: hi\n",
     "turns:\n  - say: hi\n    wait_s: soon\n", "turns:\n  - audio: tone.wav\n    clip: [a, 1]\n"],
)  # fmt: skip
def test_values_that_are_not_numbers_are_refused_clearly(voice: EspeakTTS, tmp_path: Path, text: str) -> None:
    recording(tmp_path / "tone.wav")
    with pytest.raises(UserInputError, match="must be a number"):
        load_script(write(tmp_path / "bad.yaml", text), voice, tmp_path / "cache")


def test_a_missing_script_and_a_missing_voice_are_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="no conversation script at") as caught:
        load_script(tmp_path / "nowhere.yaml", None, tmp_path / "cache")
    assert "script=" in caught.value.fix
    path = write(tmp_path / "s.yaml", "turns:\n  - say: hi\n")
    with pytest.raises(UserInputError, match="turn 1 says text but no user voice was given"):
        load_script(path, None, tmp_path / "cache")
