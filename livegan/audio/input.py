"""Where the sound comes from: a live input (PortAudio through sounddevice: JACK or ALSA on Linux)
or a sound file played along in real time.  Blocks go through a bounded queue to one analysis
thread; the show reads the newest values and the events since its last frame from `AudioState`.
Nothing here ever blocks the show: a lost device keeps the last values and says why."""
from __future__ import annotations

import itertools
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .analysis import AnalysisSettings, Analyzer, Features

RATE = 48000
MAX_FILE_SECONDS = 3 * 3600.0          # a rehearsal's whole set; 2 GB once decoded


@dataclass
class AudioSnapshot:
    """What the show takes once per frame."""
    level: float = 0.0
    bands: tuple = (0.0, 0.0, 0.0)
    onsets: int = 0                  # onsets since the previous snapshot
    beats: int = 0
    bpm: float = 0.0
    confidence: float = 0.0
    onset_clock: list = field(default_factory=list)   # perf_counter when each onset's block arrived
    blocks: int = 0


class AudioState:
    """Thread-safe meeting point of the analysis thread and the show."""

    def __init__(self):
        self._lock = threading.Lock()
        self._f = Features()
        self._peak = [0.0, 0.0, 0.0, 0.0]     # level, bass, mid, high: the loudest since the last take
        self._onsets = 0
        self._beats = 0
        self._clock: list = []
        self.blocks = 0

    def publish(self, f: Features, arrived: float) -> None:
        with self._lock:
            self._f = f
            self._peak = [max(a, b) for a, b in zip(self._peak, (f.level, *f.bands))]
            self.blocks += 1
            if f.onset:
                self._onsets += 1
                self._clock.append(arrived)
                del self._clock[:-16]
            if f.beat:
                self._beats += 1

    def take(self) -> AudioSnapshot:
        with self._lock:
            f = self._f
            # A frame sees the loudest of the blocks since the last one (peaks between frames count).
            s = AudioSnapshot(self._peak[0], tuple(self._peak[1:]), self._onsets, self._beats, f.bpm, f.confidence,
                              self._clock, self.blocks)
            self._peak = [0.0, 0.0, 0.0, 0.0]
            self._onsets = self._beats = 0
            self._clock = []
            return s


class AudioSource:
    """Base: analysis thread fed by `_feed(block)` from a device callback or a file thread."""

    kind = "audio"

    def __init__(self, settings: Optional[AnalysisSettings] = None):
        self.settings = (settings or AnalysisSettings()).check()
        self.state = AudioState()
        self.error: Optional[str] = None
        self.overruns = 0
        self.analysis_s = 0.0            # CPU seconds spent analysing (bench)
        self.audio_s = 0.0               # seconds of audio analysed
        self._q: "queue.Queue" = queue.Queue(maxsize=64)
        self._stop = threading.Event()
        self._analyzer = Analyzer(RATE, self.settings)
        self._carry = np.zeros(0, np.float32)
        self._thread = threading.Thread(target=self._analyse, name="livegan-audio", daemon=True)

    def _feed(self, samples: np.ndarray) -> None:
        """Any number of mono samples; cut into analysis blocks (called on the audio thread)."""
        now = time.perf_counter()
        x = np.concatenate([self._carry, np.asarray(samples, np.float32).reshape(-1)])
        b = self.settings.block
        whole = len(x) // b * b
        for i in range(0, whole, b):
            try:
                self._q.put_nowait((x[i:i + b], now))
            except queue.Full:
                self.overruns += 1       # the analysis fell behind: drop, never block the audio
        self._carry = x[whole:]

    def _analyse(self) -> None:
        while not self._stop.is_set():
            try:
                block, arrived = self._q.get(timeout=0.2)
            except queue.Empty:
                continue
            t = time.thread_time()
            f = self._analyzer.process(block)
            self.analysis_s += time.thread_time() - t
            self.audio_s += len(block) / RATE
            self.state.publish(f, arrived)

    def start(self) -> "AudioSource":
        self._thread.start()
        self._open()
        return self

    def _open(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stop.set()
        self._close()
        self._thread.join(timeout=2)

    def _close(self) -> None:
        pass

    def describe(self) -> str:
        return self.kind


def list_inputs() -> list[str]:
    """Input devices PortAudio sees ('' list when there are none)."""
    sd = _sounddevice()
    return [f"{i}: {d['name']} ({sd.query_hostapis(d['hostapi'])['name']}, {d['max_input_channels']} in)"
            for i, d in enumerate(sd.query_devices()) if d["max_input_channels"] > 0]


def _sounddevice():
    from ..alsa_quiet import quiet_alsa

    quiet_alsa()                         # PortAudio's probe of every ALSA device: livegan says what matters
    try:
        import sounddevice as sd
    except OSError as e:                 # the PortAudio library is missing
        raise ValueError(f"audio input needs PortAudio ({e}); on Debian: apt install libportaudio2") from None
    return sd


def find_input(name: str) -> int:
    """The input device whose name contains NAME (case-insensitive); ValueError listing them."""
    sd = _sounddevice()
    try:
        devices = [(i, d) for i, d in enumerate(sd.query_devices()) if d["max_input_channels"] > 0]
    except Exception as e:               # PortAudio itself failed: no sound system
        raise ValueError(f"--audio {name!r}: the sound system is not available ({e})") from None
    hits = [i for i, d in devices if name.lower() in d["name"].lower()]
    if not hits:
        have = ", ".join(d["name"] for _, d in devices) or "none"
        raise ValueError(f"--audio {name!r}: no such input device (inputs: {have}; see --audio-list)")
    return hits[0]


class LiveInput(AudioSource):
    """A PortAudio input stream (mono mix of its channels), in blocks of the analysis size."""

    kind = "live"

    def __init__(self, name: str, settings: Optional[AnalysisSettings] = None):
        super().__init__(settings)
        self.name = name
        self.device = find_input(name) if name not in ("", "default") else None
        self.stream = None

    def _open(self) -> None:
        sd = _sounddevice()

        def callback(indata, frames, time_info, status):
            if status.input_overflow:
                self.overruns += 1
            self._feed(indata.mean(axis=1) if indata.shape[1] > 1 else indata[:, 0])
        try:                             # no default input (no sound system, nothing plugged in) included
            info = sd.query_devices(self.device, "input")
            ch = max(1, min(2, int(info["max_input_channels"])))
            self.stream = sd.InputStream(device=self.device, channels=ch, samplerate=RATE, blocksize=self.settings.block,
                                         dtype="float32", callback=callback, latency="low")
            self.stream.start()
        except Exception as e:           # PortAudioError and friends
            raise ValueError(f"--audio {self.name!r}: cannot open the input ({e})") from None

    def _close(self) -> None:
        if self.stream is not None:
            try:
                self.stream.stop()
                self.stream.close()
            except Exception:
                pass

    def describe(self) -> str:
        return f"live {self.name or 'default'}"


def decode_file(path: str, max_seconds: float = MAX_FILE_SECONDS) -> np.ndarray:
    """A sound file as mono float32 at RATE; ValueError (one line) for anything unreadable, and
    for more than `max_seconds` of sound (decoded, it takes 192 kB a second: a few MB of
    compressed silence may hold days)."""
    import av

    from ..console import duration, reason
    from ..safeio import check_regular

    check_regular(path, 2 << 30, "sound file")
    parts, total, limit = [], 0, int(max_seconds * RATE)
    try:
        with av.open(path) as c:
            if not c.streams.audio:
                raise ValueError(f"--audio-file {path}: no audio stream")
            rs = av.AudioResampler(format="flt", layout="mono", rate=RATE)
            for frame in itertools.chain(c.decode(audio=0), [None]):
                for f in rs.resample(frame):
                    parts.append(f.to_ndarray().reshape(-1))
                    total += parts[-1].size
                if total > limit:
                    raise ValueError(f"--audio-file {path}: longer than {duration(max_seconds)}")
    except Exception as e:                       # FFmpeg's InvalidDataError is a ValueError too
        if isinstance(e, ValueError) and not isinstance(e, av.error.FFmpegError):
            raise
        raise ValueError(f"--audio-file {path}: not a readable sound file ({reason(e)})") from None
    if not parts:
        raise ValueError(f"--audio-file {path}: no audio in it")
    return np.concatenate(parts).astype(np.float32)


class FileInput(AudioSource):
    """A sound file played along, looped, paced by the wall clock (rehearsal, tests).  With
    `play`, it also goes to the default output so the performer hears what drives the show."""

    kind = "file"

    def __init__(self, path: str, settings: Optional[AnalysisSettings] = None, play: bool = False):
        super().__init__(settings)
        self.path, self.play = path, play
        self.samples = decode_file(path)
        self._pacer = threading.Thread(target=self._run, name="livegan-audio-file", daemon=True)

    def _open(self) -> None:
        self._pacer.start()

    def _run(self) -> None:
        b = self.settings.block
        out = None
        if self.play:
            try:
                out = _sounddevice().OutputStream(samplerate=RATE, channels=1, blocksize=b, dtype="float32")
                out.start()
            except Exception as e:       # no output device: analyse silently
                self.error = f"cannot play the file ({e}); analysing it silently"
                out = None
        t0, i = time.perf_counter(), 0
        n = len(self.samples)
        while not self._stop.is_set():
            j = (i * b) % max(b, n - n % b or b)
            block = self.samples[j:j + b]
            if len(block) < b:
                block = np.pad(block, (0, b - len(block)))
            if out is not None:
                out.write(block.reshape(-1, 1))          # blocks on the audio clock
            else:
                delay = t0 + (i + 1) * b / RATE - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            self._feed(block)
            i += 1
        if out is not None:
            out.close()

    def describe(self) -> str:
        from pathlib import Path
        return f"file {Path(self.path).name}"
