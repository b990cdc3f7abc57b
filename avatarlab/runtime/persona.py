"""Who the avatar is: its name, system prompt, greeting and voice, and how much history the model sees."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from avatarlab.runtime.llm import Message


@dataclass(frozen=True)
class Persona:
    """name: what the avatar calls itself; system_prompt: may say {name}; greeting: its first words;
    voice: the voice for each TTS engine ({"espeak-ng": "en-us+f3", "piper": None}; None or absent: the TTS
    config's own); max_history_turns: the user turns (each with the replies after it) sent to the model."""

    name: str
    system_prompt: str
    greeting: str
    voice: Mapping[str, str | None]
    max_history_turns: int

    def __post_init__(self) -> None:
        if self.max_history_turns < 1:
            raise ValueError(f"max_history_turns must be >= 1, not {self.max_history_turns}")

    @property
    def system(self) -> str:
        return self.system_prompt.format(name=self.name)

    def voice_for(self, engine: str) -> str | None:
        """This persona's voice in `engine`'s naming, or None for the engine's configured one."""
        return self.voice.get(engine)

    def messages(self, history: Sequence[Message]) -> list[dict[str, str]]:
        """The system prompt and the last `max_history_turns` user turns of `history` (oldest first; the
        greeting and any replies before the first kept user turn are dropped)."""
        users = [i for i, m in enumerate(history) if m["role"] == "user"]
        first = users[-self.max_history_turns] if len(users) > self.max_history_turns else 0
        kept = [{"role": m["role"], "content": m["content"]} for m in history[first:] if m["role"] != "system"]
        return [{"role": "system", "content": self.system}, *kept]
