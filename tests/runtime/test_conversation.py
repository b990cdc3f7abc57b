"""The conversation history: replies cut at word boundaries where the listener's playback stopped, drafts
kept out of the history until committed and heard, one active reply at a time, and the bounds on turns and size."""

from __future__ import annotations

import threading

import pytest

from avatarlab.runtime.conversation import Conversation, ReplyError, Status, TimedWord, UserTurn
from avatarlab.runtime.persona import Persona
from avatarlab.runtime.tts import SpokenWord

PERSONA = Persona(name="Ada", system_prompt="You are {name}.", greeting="Hello!", voice={}, max_history_turns=10)
CUT = " [cut]"


def conversation(max_turns: int = 10, max_tokens: int = 10_000) -> Conversation:
    return Conversation(max_turns=max_turns, max_tokens=max_tokens, chars_per_token=4.0, cut_marker=CUT)


def spoken(text: str, start: float = 0.0, word_s: float = 0.4, gap_s: float = 0.1) -> list[SpokenWord]:
    """TTS-like word times: each word `word_s` long, `gap_s` apart, from `start` seconds of the phrase audio."""
    words, t = [], start
    for word in text.split():
        words.append(SpokenWord(word, t, t + word_s))
        t += word_s + gap_s
    return words


PHRASE_1 = "Paris is the capital of France."
PHRASE_2 = "It has lovely museums."
# PHRASE_1 played from 10.0: Paris 10.0-10.4, is 10.5-10.9, the 11.0-11.4, capital 11.5-11.9, of 12.0-12.4,
# France. 12.5-12.9; PHRASE_2 played from 13.0: It 13.0-13.4, has 13.5-13.9, lovely 14.0-14.4, museums. 14.5-14.9


def playing_reply(talk: Conversation, t: float = 9.9) -> int:
    talk.add_user("What is the capital of France?", t=9.0)
    reply = talk.commit(t, text=PHRASE_1 + " " + PHRASE_2)
    assert talk.schedule(reply, PHRASE_1, spoken(PHRASE_1), offset=10.0)
    assert talk.schedule(reply, PHRASE_2, spoken(PHRASE_2), offset=13.0)
    return reply


def test_a_reply_heard_to_the_end_keeps_its_text_as_written() -> None:
    talk = conversation()
    reply = playing_reply(talk)
    talk.mark_played(14.0)
    turn = talk.finish(15.0)
    assert turn is not None and turn.reply == reply and turn.status is Status.DONE and not turn.cut
    assert turn.content == f"{PHRASE_1} {PHRASE_2}" and turn.planned == f"{PHRASE_1} {PHRASE_2}"
    assert talk.history() == [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": f"{PHRASE_1} {PHRASE_2}"},
    ]
    assert talk.active is None and talk.finish(16.0) is None


@pytest.mark.parametrize(
    ("cut_at", "content"),
    [
        (11.69, "Paris is the"),  # "capital" (11.5-11.9) under half played: not said
        (11.71, "Paris is the capital"),  # more than half played: said
        (12.95, PHRASE_1),  # the first phrase heard whole keeps its punctuation
        (14.25, PHRASE_1 + " It has lovely"),
    ],
)
def test_a_barge_in_keeps_the_words_heard_before_playback_stopped(cut_at: float, content: str) -> None:
    talk = conversation()
    reply = playing_reply(talk)
    talk.mark_played(cut_at - 0.3)
    turn = talk.interrupt(cut_at)
    assert turn is not None and turn.status is Status.INTERRUPTED and turn.cut and turn.ended == cut_at
    assert turn.content == content + CUT
    assert " ".join(w.word for w in turn.heard) + " " + " ".join(w.word for w in turn.unheard) == (
        f"{PHRASE_1} {PHRASE_2}"
    )
    assert all(w.start < cut_at for w in turn.heard) and turn.unheard[0].start + 0.2 >= cut_at
    # the TTS thread may still hand over a phrase of the interrupted reply: refused, nothing changes
    assert not talk.schedule(reply, "Late phrase.", spoken("Late phrase."), offset=15.0)
    assert not talk.plan(reply, " more")

    talk.add_user("Wait, and Germany?", t=cut_at + 0.8)
    messages = talk.messages(PERSONA)
    assert messages == [
        {"role": "system", "content": "You are Ada."},
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": content + CUT},
        {"role": "user", "content": "Wait, and Germany?"},
    ]


def test_a_pause_in_playback_moves_the_words_still_to_play() -> None:
    talk = conversation()
    reply = playing_reply(talk)
    talk.shift(reply, since=11.6, by=2.0)  # held in the middle of "capital" (11.5-11.9) for 2 s
    heard_by_13 = talk.interrupt(13.0)
    assert heard_by_13 is not None and heard_by_13.content == "Paris is the" + CUT  # "capital" plays at 13.5 now
    assert [(w.word, w.start, w.end) for w in heard_by_13.unheard[:2]] == [
        ("capital", pytest.approx(13.5), pytest.approx(13.9)),
        ("of", pytest.approx(14.0), pytest.approx(14.4)),
    ]
    talk.shift(reply, since=0.0, by=1.0)  # no active reply any more: nothing happens


@pytest.mark.parametrize("end", ["interrupt", "user_speaks"])
def test_a_reply_stopped_between_phrases_is_cut_though_every_scheduled_word_was_heard(end: str) -> None:
    talk = conversation()
    talk.add_user("What is the capital of France?", t=9.0)
    reply = talk.commit(9.9, text=PHRASE_1 + " " + PHRASE_2)
    assert talk.schedule(reply, PHRASE_1, spoken(PHRASE_1), offset=10.0)  # PHRASE_2 still being synthesized
    talk.mark_played(13.0)
    turn = talk.interrupt(13.1) if end == "interrupt" else talk.add_user("Thanks.", t=13.1)
    assert turn is not None and turn.status is Status.INTERRUPTED and turn.cut
    assert not turn.unheard and turn.untold and turn.content == PHRASE_1 + CUT
    assert talk.transcript()[1]["untold"] is True


def test_a_reply_heard_to_the_end_is_not_untold() -> None:
    talk = conversation()
    playing_reply(talk)
    turn = talk.finish(15.0)
    assert turn is not None and not turn.untold and not turn.cut


def test_the_transcript_shows_where_a_reply_was_cut() -> None:
    talk = conversation()
    playing_reply(talk)
    talk.interrupt(11.0)
    record = talk.transcript()[1]
    assert record["status"] == "interrupted" and record["cut"] and record["content"] == "Paris is" + CUT
    assert [w[0] for w in record["heard"]] == ["Paris", "is"]
    assert record["unheard"][0] == ["the", 11.0, 11.4] and record["planned"] == f"{PHRASE_1} {PHRASE_2}"


def test_a_reply_cut_before_its_first_word_is_left_out() -> None:
    talk = conversation()
    playing_reply(talk)
    turn = talk.interrupt(10.15)  # "Paris" 10.0-10.4: under half
    assert turn is not None and turn.content == "" and not turn.heard
    talk.add_user("Actually, Spain.", t=11.0)
    assert talk.history() == [{"role": "user", "content": "What is the capital of France? Actually, Spain."}]


def test_while_playing_the_history_has_what_was_heard_so_far() -> None:
    talk = conversation()
    playing_reply(talk)
    assert talk.history()[-1]["role"] == "user"  # committed but not heard yet
    talk.mark_played(10.3)
    talk.mark_played(10.1)  # the playback clock never goes back
    active = talk.active
    assert active is not None and active.status is Status.ACTIVE and active.heard_until == 10.3
    assert talk.history()[-1] == {"role": "assistant", "content": "Paris"}  # no cut mark: it goes on
    assert [w.word for w in talk.playing_words(10.6, 11.2)] == ["is", "the"]


def test_a_user_turn_ends_the_active_reply_at_its_time() -> None:
    talk = conversation()
    playing_reply(talk)
    cut = talk.add_user("Thanks!", t=12.0)
    assert cut is not None and cut.status is Status.INTERRUPTED and cut.content == "Paris is the capital" + CUT
    talk.commit(15.0, text="You're welcome.")
    talk.schedule(talk.active.reply, "You're welcome.", spoken("You're welcome."), offset=15.0)
    done = talk.add_user("Bye.", t=16.0)
    assert done is not None and done.status is Status.DONE and done.content == "You're welcome."


def test_a_draft_never_enters_the_history_until_committed_and_heard() -> None:
    talk = conversation()
    talk.add_user("Hi.", t=0.0)
    draft = talk.start_draft()
    assert talk.plan(draft, "Rome is")
    assert talk.plan(draft, " in Italy.")
    snapshot = talk.draft
    assert snapshot is not None and snapshot.status is Status.DRAFT and snapshot.planned == "Rome is in Italy."
    assert talk.history() == [{"role": "user", "content": "Hi."}]
    assert talk.history(pending_user="Where is Rome") == [{"role": "user", "content": "Hi. Where is Rome"}]
    assert talk.messages(PERSONA, pending_user="Where is Rome")[-1]["content"] == "Hi. Where is Rome"
    assert talk.turns() == [UserTurn("Hi.", 0.0)]
    with pytest.raises(ReplyError, match="draft"):
        talk.schedule(draft, "Rome is in Italy.", spoken("Rome is in Italy."), offset=1.0)

    talk.add_user("Where is Rome?", t=2.0)
    assert talk.commit(2.1, draft=draft, text=" It is old.") == draft
    assert talk.draft is None and talk.active is not None and talk.active.planned == "Rome is in Italy. It is old."
    assert talk.history()[-1]["role"] == "user"  # committed, not yet heard
    talk.schedule(draft, "Rome is in Italy.", spoken("Rome is in Italy."), offset=2.5)
    talk.mark_played(3.3)
    assert talk.history()[-1] == {"role": "assistant", "content": "Rome is"}
    with pytest.raises(ReplyError, match="not the live draft"):  # the same draft cannot play twice
        talk.commit(4.0, draft=draft, if_active="replace")


def test_a_discarded_draft_is_gone_and_its_late_pieces_are_refused() -> None:
    talk = conversation()
    talk.add_user("Last night I was in India", t=0.0)
    first = talk.start_draft("Wow, India!")
    assert talk.discard_draft() == first and talk.discard_draft() is None
    assert not talk.plan(first, " Tell me more.")
    with pytest.raises(ReplyError, match="not the live draft"):
        talk.commit(1.0, draft=first)
    second = talk.start_draft("A dream")
    third = talk.start_draft("What a dream!")  # a new draft replaces the live one
    assert second != third and not talk.plan(second, "?") and talk.draft.planned == "What a dream!"
    reply = talk.commit(2.0, text="Oh, a dream.")  # a fresh reply: the live draft goes
    assert reply not in (first, second, third) and talk.draft is None and not talk.plan(third, "!")
    assert talk.active.planned == "Oh, a dream."


def test_one_active_reply_at_a_time() -> None:
    talk = conversation()
    reply = playing_reply(talk)
    with pytest.raises(ReplyError, match="still active"):
        talk.commit(10.5, text="A second reply.")
    assert talk.active.reply == reply

    draft = talk.start_draft("And more.")
    assert talk.commit(10.6, draft=draft, text=" Much more.", if_active="append") == reply
    assert talk.active.planned.endswith("lovely museums.And more. Much more.") and talk.draft is None

    talk.mark_played(11.0)
    new = talk.commit(11.2, text="Sorry, let me start over.", if_active="replace")
    assert new != reply and talk.active.reply == new
    old = [t for t in talk.turns() if getattr(t, "reply", None) == reply][0]
    assert old.status is Status.INTERRUPTED and old.content == "Paris is" + CUT
    assert not talk.plan(reply, "late") and talk.plan(new, " Paris.")
    with pytest.raises(ValueError, match="if_active"):
        talk.commit(12.0, text="x", if_active="queue")


def test_the_history_is_bounded_by_turns_and_size() -> None:
    talk = conversation(max_turns=3)
    talk.commit(0.0, text="Hello!")
    talk.schedule(talk.active.reply, "Hello!", spoken("Hello!"), offset=0.0)
    talk.finish(1.0)
    assert talk.history() == [{"role": "assistant", "content": "Hello!"}]  # the greeting
    for i in range(6):
        talk.add_user(f"question {i}", t=2.0 * i + 2)
        reply = talk.commit(2.0 * i + 2.1, text=f"answer {i}")
        talk.schedule(reply, f"answer {i}", spoken(f"answer {i}"), offset=2.0 * i + 2.2)
        talk.finish(2.0 * i + 3.5)
    assert [m["content"] for m in talk.history()] == [
        "question 3",
        "answer 3",
        "question 4",
        "answer 4",
        "question 5",
        "answer 5",
    ]
    assert len(talk.turns()) == 6 and talk.dropped_turns == 3  # storage is bounded too
    pending = [m["content"] for m in talk.history(pending_user="question 6")]
    assert pending[:2] == ["question 4", "answer 4"] and pending[-1] == "question 6"

    small = conversation(max_tokens=12)
    small.add_user("hi", t=0.0)
    small.add_user("a very long question that alone is over the bound", t=1.0)  # merged with the one before
    assert small.history() == [{"role": "user", "content": "hi a very long question that alone is over the bound"}]
    sized = conversation(max_tokens=7)
    for i in range(4):
        sized.add_user(f"q{i}", t=2.0 * i)
        reply = sized.commit(2.0 * i + 0.1, text=f"answer {i}")
        sized.schedule(reply, f"answer {i}", spoken(f"answer {i}"), offset=2.0 * i + 0.2)
        sized.finish(2.0 * i + 1.5)
    history = sized.history()
    # "qN" is 1 token, "answer N" 2: two exchanges (6) fit in 7, three (9) do not
    assert [m["content"] for m in history] == ["q2", "answer 2", "q3", "answer 3"]
    sized.add_user("a very long question that alone is over the bound", t=10.0)
    assert [m["content"] for m in sized.history()] == ["a very long question that alone is over the bound"]


def test_the_persona_bound_applies_on_top() -> None:
    talk = conversation(max_turns=10)
    for i in range(4):
        talk.add_user(f"q{i}", t=float(i))
        reply = talk.commit(i + 0.1, text=f"a{i}")
        talk.schedule(reply, f"a{i}", spoken(f"a{i}"), offset=i + 0.1)
        talk.finish(i + 0.9)
    persona = Persona(name="Ada", system_prompt="You are {name}.", greeting="Hi", voice={}, max_history_turns=2)
    assert [m["content"] for m in talk.messages(persona, pending_user="q4")] == ["You are Ada.", "q3", "a3", "q4"]


def test_timed_words_are_heard_past_their_middle() -> None:
    word = TimedWord("capital", 1.0, 1.4)
    assert not word.heard_by(1.2) and word.heard_by(1.2001)
    assert TimedWord("a", 2.0, 2.0).heard_by(2.0001) and not TimedWord("a", 2.0, 2.0).heard_by(2.0)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        Conversation(max_turns=0, max_tokens=10, chars_per_token=4.0, cut_marker="...")
    with pytest.raises(ValueError):
        Conversation(max_turns=2, max_tokens=10, chars_per_token=0.0, cut_marker="...")
    with pytest.raises(ValueError, match="needs text"):
        conversation().add_user("   ", t=0.0)


def test_threads_planning_playing_and_reading_at_once() -> None:
    talk = conversation()
    talk.add_user("Tell me a story.", t=0.0)
    reply = talk.commit(0.0)
    pieces, errors = [f" w{i}" for i in range(2000)], []

    def llm() -> None:
        for piece in pieces:
            talk.plan(reply, piece)

    def tts() -> None:
        for i in range(200):
            talk.schedule(reply, f"w{i}", [SpokenWord(f"w{i}", 0.0, 0.2)], offset=0.25 * i)

    def playback() -> None:
        for i in range(2000):
            talk.mark_played(0.025 * i)

    def reader() -> None:
        try:
            for _ in range(200):
                talk.history()
                talk.transcript()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=f) for f in (llm, tts, playback, reader)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    turn = talk.finish(60.0)
    assert turn.planned == "".join(pieces) and len(turn.heard) == 200
