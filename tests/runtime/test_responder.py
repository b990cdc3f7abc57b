"""The responder's jobs on the embedded language model and espeak-ng: a draft parks after its first phrase, a kept
draft goes on, a draft rebased onto the whole turn speaks that turn's reply, a cancel stops the model between two
tokens, a new job replaces the one running."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from avatarlab.config_args import from_config
from avatarlab.runtime.conversation import Conversation
from avatarlab.runtime.responder import Job, Responder
from avatarlab.runtime.timeline import CpuMeter, ManualClock, Timeline

QUESTION = [{"role": "system", "content": "Answer in two sentences."}, {"role": "user", "content": "Tell me a story."}]


@pytest.fixture(scope="module")
def stages() -> tuple[object, object]:
    llm = from_config("serve/llm/smollm.yaml", max_new_tokens=40)
    tts = from_config("serve/tts/espeak.yaml")
    return llm, tts


Setup = tuple[Responder, Conversation, Timeline, list[Job]]


@pytest.fixture
def setup(stages: tuple[object, object]) -> Iterator[Setup]:
    llm, tts = stages
    conversation = Conversation(max_turns=4, max_tokens=500, chars_per_token=4.0, cut_marker="...")
    timeline = Timeline(ManualClock(0.0), 1000)
    done: list[Job] = []
    splitter = from_config("serve.yaml", "phrases")
    responder = Responder(llm, tts, splitter, conversation, timeline, CpuMeter(), 30.0, 1, done.append)
    responder.start()
    yield responder, conversation, timeline, done
    responder.close()


def test_a_draft_parks_after_its_first_phrase_and_a_cancel_stops_the_model(setup: Setup) -> None:
    responder, conversation, timeline, done = setup
    reply = conversation.start_draft()
    job = responder.draft(reply, QUESTION)
    assert job.first_phrase.wait(30)
    assert len(job.track.phrases) == 1 and not job.done.is_set()  # parked: nothing more is generated
    pieces = job.generation.pieces
    responder.cancel(job)
    assert job.done.wait(5)
    assert job.generation.finish_reason == "cancelled" and job.generation.pieces == pieces
    assert job.track.closed and len(job.track.phrases) == 1 and done == [job]
    assert [e.data["reason"] for e in timeline.events("llm", "end")] == ["cancelled"]


def test_a_kept_draft_goes_on_to_the_end_of_the_reply(setup: Setup) -> None:
    responder, conversation, timeline, done = setup
    reply = conversation.start_draft()
    job = responder.draft(reply, QUESTION)
    assert job.first_phrase.wait(30)
    conversation.commit(0.0, draft=reply)
    responder.release(job)
    assert job.done.wait(60)
    assert job.error is None and job.track.closed and len(job.track.phrases) >= 2
    spoken = " ".join(p.text for p in job.track.phrases)
    assert conversation.active is not None and conversation.active.planned.split() == job.generation.text.split()
    assert spoken.split() and job.track.length == sum(p.samples for p in job.track.phrases)


def test_a_new_job_replaces_the_running_one(setup: Setup) -> None:
    responder, conversation, timeline, done = setup
    first = responder.reply(conversation.commit(0.0, text=""), QUESTION)
    assert first.first_phrase.wait(30)
    second = responder.say(conversation.commit(0.1, text="", if_active="replace"), "Hello there, friend.")
    assert first.done.wait(5) and first.cancelled
    assert second.done.wait(10) and not second.cancelled
    assert " ".join(p.text for p in second.track.phrases) == "Hello there, friend."


def test_a_reply_that_is_no_longer_live_ends_its_job(setup: Setup) -> None:
    responder, conversation, timeline, done = setup
    reply = conversation.start_draft()
    conversation.discard_draft()  # gone before the model's first piece: plan() refuses it
    job = responder.draft(reply, QUESTION)
    assert job.done.wait(30)
    assert job.cancelled and not job.track.phrases


def test_a_parked_draft_rebased_onto_the_whole_turn_speaks_the_whole_turns_reply(setup: Setup) -> None:
    """The draft of "What is the capital of France" fits the whole turn's reply: rebased, it goes on and its track
    speaks what a reply job for the whole turn speaks; a draft whose words do not fit is refused."""
    responder, conversation, timeline, done = setup
    system = {"role": "system", "content": "Your name is Ada. Reply in one short sentence."}
    whole = [system, {"role": "user", "content": "What is the capital of France? Answer in one word."}]
    fresh = responder.reply(conversation.commit(0.0, text=""), whole)
    assert fresh.done.wait(60)
    conversation.finish(1.0)
    reply = conversation.start_draft()
    job = responder.draft(reply, [system, {"role": "user", "content": "What is the capital of France"}])
    assert job.first_phrase.wait(30) and job.parked.wait(5)
    assert responder.rebase(job, whole)
    conversation.commit(2.0, draft=reply)
    responder.release(job)
    assert job.done.wait(60) and job.error is None
    assert [p.text for p in job.track.phrases] == [p.text for p in fresh.track.phrases]
    assert [e.data["kept"] for e in timeline.events("llm", "rebase")] == [True]

    other = responder.draft(conversation.start_draft(), [system, {"role": "user", "content": "Tell me a joke"}])
    assert other.parked.wait(30)
    assert not responder.rebase(other, [system, {"role": "user", "content": "Tell me about the history of Rome."}])
    responder.cancel(other)
    assert other.done.wait(5)


def test_a_rebase_the_model_fails_is_refused_not_raised(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    responder, conversation, timeline, done = setup
    job = responder.draft(conversation.start_draft(), QUESTION)
    assert job.parked.wait(30)
    monkeypatch.setattr(responder.llm, "max_prompt_tokens", 8)  # no prompt fits
    assert not responder.rebase(job, QUESTION)
    assert "max_prompt_tokens=8" in timeline.events("llm", "rebase")[-1].data["error"]
    responder.cancel(job)
    assert job.done.wait(5)
