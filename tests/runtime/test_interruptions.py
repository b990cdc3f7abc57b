"""Speech heard while the avatar speaks: backchannels let it go on, a cough resumes it, the avatar's own voice
is not a barge-in, a real interruption stops it; the reply's playback state and the time of its stop decision."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from avatarlab.runtime.asr import AsrWord
from avatarlab.runtime.conversation import TimedWord
from avatarlab.runtime.interruptions import (
    BACKCHANNELS,
    Heard,
    HeardSpeech,
    InterruptionClassifier,
    Playback,
    ReplyPlayback,
    backchannel_only,
    content_words,
    envelope_correlation,
    same_word,
    tokens,
)


def classifier(turn_threshold: float | None = 0.9, echo_correlation: float | None = 0.8) -> InterruptionClassifier:
    return InterruptionClassifier(
        min_barge_in_s=0.6,
        max_backchannel_words=3,
        max_false_start_s=0.25,
        word_wait_s=0.4,
        echo_delay_s=0.3,
        echo_correlation=echo_correlation,
        turn_threshold=turn_threshold,
        backchannels=BACKCHANNELS,
    )


def said(text: str, start: float, word_s: float = 0.25) -> list[AsrWord]:
    """Recognised words, one every `word_s` seconds from `start`."""
    return [AsrWord(w, start + i * word_s, start + (i + 1) * word_s, True, 0.9) for i, w in enumerate(text.split())]


# the avatar is saying this, word i from 10.0 + 0.3 i to 10.0 + 0.3 i + 0.25
AVATAR = "The museum opens at nine in the morning and closes at six".split()
PLAYING = [TimedWord(w, 10.0 + 0.3 * i, 10.25 + 0.3 * i) for i, w in enumerate(AVATAR)]


@pytest.mark.parametrize(
    "text", ["Mm-hmm.", "Uh-huh.", "Yeah.", "Right.", "Oh, okay.", "I see.", "Sure.", "Okay.", "Mhm", "Yeah, yeah."]
)
def test_backchannels_let_the_avatar_go_on(text: str) -> None:
    speech = HeardSpeech(start=11.0, end=11.4, words=said(text, 11.0, 0.15))
    verdict = classifier().classify(speech, PLAYING, now=11.5)
    assert verdict.kind is Heard.BACKCHANNEL and verdict.final and "backchannel" in verdict.reason
    going_on = HeardSpeech(start=11.0, end=None, words=said(text, 11.0, 0.15))
    provisional = classifier().classify(going_on, PLAYING, now=11.4)
    assert provisional.kind is Heard.BACKCHANNEL and not provisional.final  # more words could still come


@pytest.mark.parametrize(
    ("text", "content"),
    [("Wait.", "wait"), ("No, stop.", "no stop"), ("What?", "what"), ("Yeah, but why?", "but why"), ("I see it", "it")],
)
def test_any_content_word_is_a_barge_in(text: str, content: str) -> None:
    speech = HeardSpeech(start=11.0, end=None, words=said(text, 11.0, 0.15))
    verdict = classifier().classify(speech, PLAYING, now=11.3)
    assert verdict.kind is Heard.BARGE_IN and verdict.final and verdict.reason == f"content words: {content}"


def test_more_words_than_a_backchannel_is_a_barge_in() -> None:
    speech = HeardSpeech(start=11.0, end=11.5, words=said("yeah yeah okay right", 11.0, 0.1))
    verdict = classifier().classify(speech, PLAYING, now=11.5)
    assert verdict.kind is Heard.BARGE_IN and "4 words > 3" in verdict.reason


def test_the_turn_model_can_call_a_short_answer_a_turn() -> None:
    sure = said("Okay.", 11.0)
    confident = HeardSpeech(start=11.0, end=None, words=sure, p_end=0.95, p_stable=0.93)
    verdict = classifier().classify(confident, PLAYING, now=11.3)
    assert verdict.kind is Heard.BARGE_IN and verdict.reason.startswith("turn model")
    unsure = HeardSpeech(start=11.0, end=None, words=sure, p_end=0.95, p_stable=0.5)
    assert classifier().classify(unsure, PLAYING, now=11.3).kind is Heard.BACKCHANNEL
    assert classifier(turn_threshold=None).classify(confident, PLAYING, now=11.3).kind is Heard.BACKCHANNEL


def test_long_speech_is_a_barge_in_before_its_words_are_known() -> None:
    going = HeardSpeech(start=11.0, end=None)
    early = classifier().classify(going, PLAYING, now=11.3)
    assert early.kind is Heard.PENDING and not early.final
    late = classifier().classify(going, PLAYING, now=11.65)
    assert late.kind is Heard.BARGE_IN and late.final and "0.65 s of speech" in late.reason
    long_backchannel = HeardSpeech(start=11.0, end=None, words=said("mm-hmm", 11.0, 0.3))
    assert classifier().classify(long_backchannel, PLAYING, now=11.7).kind is Heard.BARGE_IN


def test_a_backchannel_split_by_the_echo_match_is_still_one() -> None:
    # the avatar says "I" just before; the user's "I see" has its "I" taken for echo: "see" alone is no content
    playing = [TimedWord("I", 11.0, 11.2), TimedWord("think", 11.2, 11.5)]
    speech = HeardSpeech(start=11.0, end=11.5, words=said("I see", 11.0))
    verdict = classifier().classify(speech, playing, now=11.6)
    assert verdict.kind is Heard.BACKCHANNEL, verdict.reason
    assert verdict.echo_words == ("i",) and verdict.user_words == ("see",)
    content = HeardSpeech(start=11.0, end=11.5, words=said("I stop", 11.0))
    assert classifier().classify(content, playing, now=11.6).kind is Heard.BARGE_IN


def test_the_wait_for_an_end_is_not_speech() -> None:
    # "oh okay" for 0.5 s, then quiet: the VAD waits to declare its end; the wait does not make it a barge-in
    quiet = HeardSpeech(start=11.0, end=None, words=said("oh okay", 11.0), quiet_since=11.5)
    verdict = classifier().classify(quiet, PLAYING, now=11.7)
    assert verdict.kind is Heard.BACKCHANNEL and not verdict.final
    going = HeardSpeech(start=11.0, end=None, words=said("oh okay", 11.0))
    assert classifier().classify(going, PLAYING, now=11.7).kind is Heard.BARGE_IN  # the voice went on


def test_a_cough_is_a_false_start() -> None:
    cough = HeardSpeech(start=11.0, end=11.15)
    verdict = classifier().classify(cough, PLAYING, now=11.16)
    assert verdict.kind is Heard.FALSE_START and verdict.final and "without a word" in verdict.reason
    # longer noise without a word: wait for the recognizer, then resume
    noise = HeardSpeech(start=11.0, end=11.4)
    waiting = classifier().classify(noise, PLAYING, now=11.5)
    assert waiting.kind is Heard.PENDING and waiting.reason == "waiting for words"
    resumed = classifier().classify(noise, PLAYING, now=11.8)
    assert resumed.kind is Heard.FALSE_START and "no word recognised" in resumed.reason
    # and if the recognizer does find a word in it, the word decides
    words = HeardSpeech(start=11.0, end=11.4, words=said("stop", 11.05))
    assert classifier().classify(words, PLAYING, now=11.8).kind is Heard.BARGE_IN


def test_the_avatars_own_words_are_echo() -> None:
    # "opens at nine in" (10.6-11.5) comes back 0.2 s later and is recognised, with a slip ("open")
    echo = [AsrWord(w, 10.8 + 0.3 * i, 11.05 + 0.3 * i, True, 0.8) for i, w in enumerate(["Open", "at", "nine", "in."])]
    ongoing = classifier().classify(HeardSpeech(start=10.75, end=None, words=echo), PLAYING, now=12.0)
    assert ongoing.kind is Heard.ECHO and not ongoing.final and ongoing.echo_words == ("open", "at", "nine", "in")
    ended = classifier().classify(HeardSpeech(start=10.75, end=12.0, words=echo), PLAYING, now=12.1)
    assert ended.kind is Heard.ECHO and ended.final and ended.user_words == ()
    # 1.25 s of it: echo all the same, not "long speech"
    assert ended.reason.startswith("the avatar's own words")


def test_the_same_words_outside_the_echo_window_are_the_users() -> None:
    late = [AsrWord("morning", 14.0, 14.3, True, 0.9)]  # "morning" played 12.4-12.65: too long ago for echo
    verdict = classifier().classify(HeardSpeech(start=13.9, end=None, words=late), PLAYING, now=14.3)
    assert verdict.kind is Heard.BARGE_IN and verdict.user_words == ("morning",)


def test_a_user_speaking_over_the_echo_is_heard() -> None:
    words = [AsrWord("opens", 10.8, 11.05, True, 0.8), AsrWord("wait", 11.1, 11.3, True, 0.9)]
    verdict = classifier().classify(HeardSpeech(start=10.75, end=None, words=words), PLAYING, now=11.4)
    assert verdict.kind is Heard.BARGE_IN and verdict.user_words == ("wait",) and verdict.echo_words == ("opens",)
    mixed = [AsrWord("opens", 10.8, 11.05, True, 0.8), AsrWord("mm-hm", 11.1, 11.3, True, 0.9)]
    backchannel = classifier().classify(HeardSpeech(start=10.75, end=11.35, words=mixed), PLAYING, now=11.4)
    assert backchannel.kind is Heard.BACKCHANNEL and backchannel.user_words == ("mm", "hm")


def test_energy_that_tracks_the_playback_is_echo() -> None:
    rng = np.random.default_rng(0)
    playback = np.abs(np.sin(np.linspace(0, 12, 100))) + 0.05 * rng.random(100)  # syllable-like envelope
    mic = np.concatenate([np.zeros(3), 0.2 * playback[:-3]]) + 0.01 * rng.random(100)  # 3 frames late, quieter
    score = envelope_correlation(mic, playback, max_lag=5)
    assert score > 0.95
    assert envelope_correlation(rng.random(100), playback, max_lag=5) < 0.5
    assert envelope_correlation(np.zeros(100), playback, max_lag=5) == 0.0
    assert envelope_correlation([1.0, 2.0], [1.0, 2.0], max_lag=0) == 0.0  # too short to say

    tracked = HeardSpeech(start=11.0, end=None, echo_score=score)
    verdict = classifier().classify(tracked, PLAYING, now=12.0)  # 1 s without a word: still echo
    assert verdict.kind is Heard.ECHO and "energy tracks the playback" in verdict.reason
    independent = HeardSpeech(start=11.0, end=None, echo_score=0.3)
    assert classifier().classify(independent, PLAYING, now=12.0).kind is Heard.BARGE_IN
    assert classifier(echo_correlation=None).classify(tracked, PLAYING, now=12.0).kind is Heard.BARGE_IN  # rule off


def test_words_and_phrases() -> None:
    assert tokens("Mm-hmm, OKAY\u2019s fine!") == ["mm", "hmm", "okay's", "fine"]
    assert backchannel_only(tokens("Oh, okay. I see."), BACKCHANNELS)
    assert not backchannel_only(tokens("I see it"), BACKCHANNELS) and backchannel_only([], BACKCHANNELS)
    assert content_words(tokens("Yeah, I see, but no."), BACKCHANNELS) == ["but", "no"]
    assert same_word("Nine.", "nine") and same_word("museums", "museum") and not same_word("at", "in")
    assert not same_word("...", "...")


def test_bad_thresholds_are_refused() -> None:
    args = dict(
        min_barge_in_s=0.6,
        max_backchannel_words=3,
        max_false_start_s=0.25,
        word_wait_s=0.4,
        echo_delay_s=0.3,
        echo_correlation=0.8,
        turn_threshold=0.9,
        backchannels=BACKCHANNELS,
    )
    for bad in (
        {"max_false_start_s": 0.8},
        {"max_backchannel_words": 0},
        {"turn_threshold": 1.5},
        {"backchannels": []},
        {"echo_delay_s": -0.1},
    ):
        with pytest.raises(ValueError):
            InterruptionClassifier(**{**args, **bad})
    with pytest.raises(ValueError, match="hold"):
        ReplyPlayback(classifier(), hold="mute", max_pending_s=0.5)


def playback(hold: str = "duck") -> ReplyPlayback:
    return ReplyPlayback(classifier(), hold=hold, max_pending_s=0.5)


def test_a_backchannel_keeps_the_reply_playing() -> None:
    state = playback()
    held = state.hear(HeardSpeech(start=11.0, end=None), PLAYING, now=11.1)
    assert held is not None and held.after is Playback.DUCKED and state.held_since == 11.1
    assert state.hear(HeardSpeech(start=11.0, end=None), PLAYING, now=11.2) is None  # still pending
    back = state.hear(HeardSpeech(start=11.0, end=None, words=said("mm-hm", 11.0)), PLAYING, now=11.3)
    assert back is not None and (back.before, back.after) == (Playback.DUCKED, Playback.RESUMED)
    assert state.hear(HeardSpeech(start=11.0, end=11.35, words=said("mm-hm", 11.0)), PLAYING, now=11.4) is None
    assert state.audible and state.stopped_at is None
    assert [v.kind for v in state.verdicts] == [Heard.PENDING, Heard.PENDING, Heard.BACKCHANNEL, Heard.BACKCHANNEL]


def test_a_cough_pauses_then_resumes_the_reply() -> None:
    state = playback(hold="pause")
    assert state.hear(HeardSpeech(start=11.0, end=None), PLAYING, now=11.05).after is Playback.PAUSED
    resumed = state.hear(HeardSpeech(start=11.0, end=11.2), PLAYING, now=11.2)
    assert resumed.after is Playback.RESUMED and resumed.verdict.kind is Heard.FALSE_START
    # a second stretch of speech can hold the reply again
    assert state.hear(HeardSpeech(start=12.0, end=None), PLAYING, now=12.05).after is Playback.PAUSED


def test_echo_known_at_once_never_holds_the_reply() -> None:
    state = playback()
    assert state.hear(HeardSpeech(start=11.0, end=None, echo_score=0.97), PLAYING, now=11.1) is None
    assert state.state is Playback.PLAYING and state.verdicts[-1].kind is Heard.ECHO


def test_a_barge_in_stops_the_reply_and_says_when() -> None:
    state = playback()
    state.hear(HeardSpeech(start=12.0, end=None), PLAYING, now=12.05)
    stop = state.hear(HeardSpeech(start=12.0, end=None, words=said("wait", 12.0)), PLAYING, now=12.35)
    assert stop is not None and (stop.before, stop.after, stop.t) == (Playback.DUCKED, Playback.STOPPED, 12.35)
    assert state.stopped_at == 12.35 and state.barge_in_start == 12.0 and stop.reason == "content words: wait"
    # stopped is final: later speech, ticks and the end of playback change nothing
    assert state.hear(HeardSpeech(start=12.0, end=12.5, words=said("mm-hm", 12.0)), PLAYING, now=12.6) is None
    assert state.tick(20.0) is None and state.finish(13.0) is None and state.state is Playback.STOPPED
    # from playing straight to stopped when the words are already known
    direct = playback()
    stop = direct.hear(HeardSpeech(start=12.0, end=None, words=said("hold on", 12.0)), PLAYING, now=12.4)
    assert (stop.before, stop.after) == (Playback.PLAYING, Playback.STOPPED)


def test_a_held_reply_is_stopped_within_the_bound() -> None:
    state = playback()
    state.hear(HeardSpeech(start=11.0, end=11.4), PLAYING, now=11.45)  # no word yet: held
    assert state.tick(11.9) is None and state.state is Playback.DUCKED
    stop = state.tick(11.95)
    assert stop is not None and stop.after is Playback.STOPPED and stop.reason == "no verdict within 0.5 s"
    assert state.stopped_at == 11.95 and state.barge_in_start == 11.0
    assert state.transitions[-1] is stop and stop.t - state.transitions[0].t <= state.max_pending_s


def test_the_reply_finishes() -> None:
    state = playback()
    done = state.finish(13.0)
    assert done.after is Playback.FINISHED and state.stopped_at is None and not state.audible
    assert state.hear(HeardSpeech(start=13.1, end=None, words=said("wait", 13.1)), PLAYING, now=13.4) is None


def test_one_stop_when_threads_hear_at_once() -> None:
    state = playback()
    barrier = threading.Barrier(4)
    results: list[object] = []

    def hear(i: int) -> None:
        barrier.wait()
        speech = HeardSpeech(start=12.0, end=None, words=said("stop now", 12.0))
        results.append(state.hear(speech, PLAYING, now=12.3 + i * 0.01))

    threads = [threading.Thread(target=hear, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stops = [r for r in results if r is not None]
    assert len(stops) == 1 and len(state.transitions) == 1 and state.state is Playback.STOPPED
