"""The avatar's own voice, taken back out of the microphone: the server knows what it is playing.

`EchoCanceller` keeps what the output sent (by session sample) and subtracts from each microphone chunk its
best single-path estimate of the echo: the output `delay` samples earlier, times `gain`. Every `adapt_s`
while the output was audible, it re-estimates the path from the last `window_s` of both signals: the lag of
the highest normalised cross-correlation within `max_delay_s` (FFT), and the least-squares gain at that lag,
kept only when the correlation is at least `min_correlation` (user speech over the echo, or no echo at all,
leaves the previous estimate). A page with the browser's echo cancellation sends little echo: the estimate
then stays below the threshold and nothing is subtracted.
"""

from __future__ import annotations

import threading

import numpy as np

from avatarlab.runtime.sample_ring import SampleRing
from avatarlab.spec.stream import AUDIO_RATE


class EchoCanceller:
    """Session-sample-indexed reference and microphone; see the module's doc."""

    def __init__(self, max_delay_s: float, window_s: float, adapt_s: float, min_correlation: float) -> None:
        if not (0 < max_delay_s < window_s and adapt_s > 0 and 0 < min_correlation <= 1):
            raise ValueError("need 0 < max_delay_s < window_s, adapt_s > 0 and 0 < min_correlation <= 1")
        self.max_delay = round(max_delay_s * AUDIO_RATE)
        self.window = round(window_s * AUDIO_RATE)
        self.adapt = round(adapt_s * AUDIO_RATE)
        self.min_correlation = min_correlation
        keep = 2 * (self.window + self.max_delay)
        self._ref = SampleRing(keep)  # what the output sent, by session sample
        self._mic = SampleRing(keep)
        self._next_adapt = 0
        self.delay: int | None = None
        self.gain = 0.0
        self.correlation = 0.0
        self._lock = threading.Lock()

    def reference(self, start: int, audio: np.ndarray) -> None:
        """The output sent `audio` from session sample `start` on."""
        with self._lock:
            self._ref.write(start, audio)

    def cancel(self, start: int, mic: np.ndarray) -> np.ndarray:
        """Microphone samples from session sample `start`, with the estimated echo taken out (a new array; `mic`
        itself while no echo path is known)."""
        with self._lock:
            self._mic.write(start, mic)
            if self._mic.end >= self._next_adapt:
                self._estimate()
                self._next_adapt = self._mic.end + self.adapt
            if self.delay is None or self.gain == 0.0:
                return mic
            echo = self._ref.read(start - self.delay, len(mic))
            return (mic - np.float32(self.gain) * echo).astype(np.float32)

    def _estimate(self) -> None:
        end = self._mic.end  # before the session's start, both rings read zeros
        mic = self._mic.read(end - self.window, self.window).astype(np.float64)
        ref = self._ref.read(end - self.window - self.max_delay, self.window + self.max_delay).astype(np.float64)
        ref_energy = float(np.mean(ref[self.max_delay :] ** 2))
        if ref_energy < 1e-7 or float(np.mean(mic**2)) < 1e-9:
            return  # the output was silent: nothing to learn
        n = 1 << int(np.ceil(np.log2(len(ref) + len(mic))))
        # corr[l] = sum_n mic[n] * ref[n + max_delay - l], for lags l = 0..max_delay
        spectrum = np.fft.rfft(ref, n) * np.conj(np.fft.rfft(mic, n))
        full = np.fft.irfft(spectrum, n)
        lags = np.arange(self.max_delay + 1)
        corr = full[self.max_delay - lags]
        cum = np.concatenate([[0.0], np.cumsum(ref**2)])
        energies = cum[self.max_delay - lags + self.window] - cum[self.max_delay - lags]  # ||ref segment at lag||^2
        norm = np.sqrt(np.maximum(energies, 1e-12) * float(np.sum(mic**2)))
        score = corr / norm
        best = int(np.argmax(score))
        if score[best] < self.min_correlation:
            return
        self.delay, self.correlation = best, float(score[best])
        self.gain = float(np.clip(corr[best] / max(energies[best], 1e-12), 0.0, 2.0))
