"""A stage's own thread: started once, looping in `_run()` while `running`, ended by close()."""

from __future__ import annotations

import threading


class BackgroundLoop:
    """Subclasses call `__init__(name)` and implement `_run()`, which returns soon after `running` turns False."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._running = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._running.is_set()

    def start(self) -> None:
        self._running.set()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the loop and wait (at most 5 s) for its thread to end."""
        self._running.clear()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        raise NotImplementedError
