"""The persona from its config: the system prompt with the name, the voice per engine, the bounded history."""

from __future__ import annotations

import pytest

from avatarlab.config_args import config_args, from_config
from avatarlab.runtime.persona import Persona

CONFIG = "serve/persona/default.yaml"


def test_the_config_builds_a_persona() -> None:
    assert set(config_args(CONFIG)) == {"name", "system_prompt", "greeting", "voice", "max_history_turns"}
    persona = from_config(CONFIG)
    assert isinstance(persona, Persona) and persona.name in persona.system and "{name}" not in persona.system
    assert persona.greeting.strip() and persona.voice_for("espeak-ng") and persona.voice_for("piper") is None
    assert persona.voice_for("another-engine") is None


def test_the_history_is_bounded_by_user_turns() -> None:
    persona = Persona(**config_args(CONFIG, max_history_turns=2))
    history = [{"role": "assistant", "content": persona.greeting}]
    for i in range(4):
        history += [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]
    history.append({"role": "user", "content": "q4"})
    messages = persona.messages(history)
    assert messages[0] == {"role": "system", "content": persona.system}
    assert [m["content"] for m in messages[1:]] == ["q3", "a3", "q4"]
    short = persona.messages(history[:2])  # within the bound: the greeting stays
    assert [m["content"] for m in short[1:]] == [persona.greeting, "q0"]
    assert persona.messages([]) == [messages[0]]


def test_a_bound_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_history_turns"):
        Persona(**config_args(CONFIG, max_history_turns=0))
