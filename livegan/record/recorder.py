"""Session recording: video + control log, side by side in a walk folder (the log: log.py; the
exact re-render: offline/replay.py)."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Optional

import numpy as np

from ..console import say
from ..params import Command
from ..store import Store
from .log import CARRIED_NAME, LOG_NAME, ControlLog, RecordingError, command_line, save_carried, show_state


class Recorder:
    """Records the running show into a new 'recording' walk: video of what is presented plus the
    control log.  The main thread only enqueues; one recorder thread does every piece of I/O
    (opening the store, creating the walk, the log, handing frames to the encoder), so a slow or
    full disk or a locked database never delays a display frame.  Frames are dropped and counted
    when the queue is full; log lines never are (a log that lost a line would not replay exactly,
    so the recording fails instead).  Errors stop the recording and are kept in `error`.

    What waits is bounded by kind: pictures (frames, files) by count and bytes, log lines by
    count alone.  One bound for both failed a recording when a tick applied more commands than
    there were frame slots (a panel's bundle of every parameter, commands released after a
    preset load): a burst of small lines is not a slow disk."""

    QUEUE = 128                                      # pictures waiting (fewer when they are large)
    QUEUE_BYTES = 512 << 20
    MAX_LINES = 1 << 16                              # log lines waiting: only a stalled disk fills this

    def __init__(self, store, show, codec: str = "h264", crf: int = 18):
        import queue

        self._store_arg, self.show, self.codec, self.crf = store, show, codec, crf
        self.walk_id: Optional[int] = None
        self.sink = None
        self.frames = 0
        self.dropped = 0
        self.error: Optional[str] = None
        self.start_tick = 0
        self._active = False
        self._queue: "queue.Queue" = queue.Queue()    # bounded by kind in `_put`
        self._room = threading.Semaphore(self.QUEUE)  # picture slots: taken by `_put`, given back by the thread
        self._thread: Optional[threading.Thread] = None
        self.ready = threading.Event()
        self._conds = 0
        self.needs_carried = False                   # the effect chain's state is still to be taken
        self._pictures: set = set()                  # pre-recording pictures already stored
        self._unlogged: list = []                    # shown entries of frames dropped off the queue

    @property
    def active(self) -> bool:
        return self._active

    @property
    def store(self) -> Store:
        return self._store_arg() if callable(self._store_arg) else self._store_arg

    def start(self, program_size: Optional[tuple[int, int]] = None) -> None:
        """Capture the state this frame (main thread, no I/O) and hand the rest to the thread."""
        show = self.show
        header = show_state(show)
        header["program_size"] = list(program_size) if program_size else None
        self.start_tick = show.tick_index
        if program_size:                             # frames wait here: bounded in bytes, not only count
            cap = max(8, min(self.QUEUE, self.QUEUE_BYTES // (program_size[0] * program_size[1] * 3)))
            self._room = threading.Semaphore(cap)
        self.frames = 0
        self.error = None
        self._active = True
        self.needs_carried = True
        show.command_log = self._command
        # Frames planned before this tick already have their condition (Canvas) and modulation
        # offsets: logged at frame 0.
        cond, mod = show.conditioner, show.mod.matrix
        for f in sorted(f for f in cond.assigned if f > self.start_tick):
            self._command(self.start_tick + 1, Command("condition", cond.assigned[f].key[0],
                                                        cond.log_value(f, cond.assigned[f]), "input"))
        for f in sorted(f for f in mod.assigned if f > self.start_tick):
            self._command(self.start_tick + 1, Command("mod", "frame", {"for": f, "offsets": mod.assigned[f]}, "mod"))
        self._thread = threading.Thread(target=self._run, args=(header,), name="livegan-recorder", daemon=True)
        self._thread.start()

    HEAVY = ("frame", "file", "carried")            # items holding pictures: they take a slot

    def _put(self, item, essential: bool) -> bool:
        if item[0] in self.HEAVY:
            room = self._room.acquire(blocking=False)
        else:
            room = self._queue.qsize() < self.MAX_LINES
        if room:
            self._queue.put_nowait(item)
            return True
        if essential:
            self.fail("the recorder fell behind (a slow or full disk?)")
        return False

    def _command(self, tick: int, cmd: Command) -> None:
        """A command as it is applied (the show's thread).  Its line is made here: a value the log
        cannot hold raises ValueError, and the show refuses the command (the replay stays exact)."""
        if not self._active:
            return
        rel = tick - self.start_tick - 1
        pixels = None
        if cmd.op in ("condition", "mod"):              # what a frame used: its condition, its modulation
            v = dict(cmd.value)
            v["for"] = int(v["for"]) - self.start_tick - 1
            pixels = v.pop("pixels", None)
            if pixels is not None:                      # a live frame: stored beside the log, lossless
                v["file"] = f"conditions/{self._conds + 1:06d}.png"
            cmd = Command(cmd.op, cmd.name, v, cmd.source)
        line = command_line(rel, cmd)
        if pixels is not None:
            self._conds += 1
            self._put(("file", v["file"], pixels), essential=True)
        self._put(("line", line), essential=True)

    def carry(self, state: dict, pic: Optional[int]) -> None:
        """What the first recorded frame inherits from the frames before it (the picture on screen,
        the crossfade's previous frame, the feedback buffers, a network swap's fade), taken just
        before that frame is drawn; stored beside the log."""
        self.needs_carried = False
        rel = None if pic is None else pic - self.start_tick - 1
        self._put(("carried", state, rel), essential=True)

    def picture(self, tick: int, image) -> None:
        """A generator picture planned at or before the recording's start tick, shown after it: a
        replay from the header cannot render it, so it is stored losslessly."""
        rel = tick - self.start_tick - 1
        if not self._active or rel in self._pictures:
            return
        self._pictures.add(rel)
        pixels = image if isinstance(image, np.ndarray) else image.cpu().numpy()
        file = f"pictures/{rel:+07d}.png"
        self._put(("file", file, pixels), essential=True)
        self._put(("line", {"type": "picture", "p": rel, "file": file}), essential=True)

    def frame(self, image: np.ndarray, tag=None) -> None:
        """The program frame (HWC uint8) presented at display tick `tick`, once per tick while
        recording; `tag` is (tick, planned tick of the picture it shows).  Video frame j is the
        frame of tick start + 1 + j unless frames were dropped; each frame's `shown` line says
        which tick it was and which picture it showed, so `render --as-shown` reproduces it."""
        tick, pic = tag if isinstance(tag, tuple) else (tag, None)
        if not self._active or (tick is not None and tick <= self.start_tick):
            return
        t = None if tick is None else tick - self.start_tick - 1
        p = t if pic is None else pic - self.start_tick - 1
        if self._put(("frame", image, t, p, self._unlogged), essential=False):
            self._unlogged = []
            self.frames += 1
            if self.frames % max(1, int(self.show.opts.fps)) == 0:   # a mark a second: after a crash,
                self._put(("line", {"type": "mark", "frames": self.frames}), essential=True)  # the log knows its length
        else:
            self.dropped += 1
            self._unlogged.append((t, p))

    def fail(self, message: str) -> None:
        self.error = f"recording stopped: {message}"
        self.show.error("recording", self.error)
        self.stop(status="failed")

    def stop(self, status: str = "done") -> None:
        """Ends the recording; the thread finishes the files (see `join`)."""
        if not self._active:
            return
        self._active = False
        self.show.command_log = None
        for t, p in self._unlogged:                   # frames dropped at the very end
            self._put(("line", {"type": "shown", "t": t, "p": p, "d": 1}), essential=False)
        self._unlogged = []
        self._queue.put_nowait(("stop", status, self.frames))   # the queue itself is unbounded

    def join(self, timeout: float = 60.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    # -- the recorder thread ------------------------------------------------------------------------
    def _run(self, header: dict) -> None:
        from ..codecs import suffix_for
        from ..media import VideoSink

        log = None
        try:
            store = self.store
            show = self.show
            self.walk_id = store.create_walk("recording", name=time.strftime("session %Y-%m-%d %H:%M:%S"),
                                             network=header["network"], network_hash=header["network_id"],
                                             preset=header["preset"]["name"], status="recording")
            folder = store.walk_dir(self.walk_id)
            header["walk_id"] = self.walk_id
            log = ControlLog(folder / LOG_NAME, header)
            ext = suffix_for(self.codec)
            ps = header.get("program_size") or (1024, 1024)
            depth = max(4, min(64, self.QUEUE_BYTES // 2 // (ps[0] * ps[1] * 3)))   # bytes, not only frames
            self.sink = VideoSink(folder / f"session{ext}", show.opts.fps, self.codec, maxsize=depth,
                                  fragmented=True, crf=self.crf)
            say(f"livegan: recording to {folder}")
            self.show.notify(f"recording to {folder}")
        except Exception as e:
            self.error = f"recording could not start: {type(e).__name__}: {e}"
            self.show.error("recording", self.error)
            self._active = False
            self.show.command_log = None
            self.ready.set()
            if self.walk_id is not None:
                self._finish(store, log, "failed", 0)
            return
        self.ready.set()
        status, frames = "done", 0
        while True:
            item = self._queue.get()
            if item[0] in self.HEAVY:
                self._room.release()
            if item[0] == "stop":
                status, frames = item[1], item[2]
                break
            try:
                if item[0] == "line":
                    log.write(item[1])
                elif item[0] == "file":
                    self._write_file(folder / item[1], item[2])
                elif item[0] == "carried":
                    save_carried(folder / CARRIED_NAME, item[1])
                    log.write({"type": "carried", "file": CARRIED_NAME, "pic": item[2]})
                else:
                    _, image, t, p, unlogged = item
                    for dt, dp in unlogged:              # dropped before they reached this thread
                        log.write({"type": "shown", "t": dt, "p": dp, "d": 1})
                    ok = self.sink.put(image, block=False)
                    log.write({"type": "shown", "t": t, "p": p, **({} if ok else {"d": 1})})
                    if not ok and self.sink.error:
                        raise RecordingError(self.sink.error)
            except RecordingError as e:
                if self._active:
                    self.fail(str(e))
            except Exception as e:                      # never a dead thread: the files are finished
                if self._active:
                    self.fail(f"{type(e).__name__}: {str(e)[:120]}")
        self._finish(store, log, status, frames)

    @staticmethod
    def _write_file(path: Path, pixels: np.ndarray) -> None:
        from ..imaging import save_png

        try:
            path.parent.mkdir(exist_ok=True)
            save_png(path, pixels)
        except OSError as e:
            raise RecordingError(f"{path.name}: {e.strerror or e}") from None

    def _finish(self, store, log, status: str, frames: int) -> None:
        info = {"frames": frames, "fps": self.show.opts.fps, "dropped": self.dropped}
        if log is not None:
            try:
                log.close(frames)
            except RecordingError as e:
                status, info["error"] = "failed", str(e)
        if self.sink is not None:
            written = self.sink.close()
            info.update(video_frames=written, video_dropped=self.sink.dropped)
            if not written and not self.sink.error:     # no frame: no video file, and it says so
                info["video"] = None
                self.show.error("recording-empty", f"recording {self.walk_id} ended with no frames: no video written")
            if self.sink.error:
                status, info["error"] = "failed", self.sink.error
                if self.error is None:
                    self.error = f"recording stopped: {self.sink.error}"
                    self.show.error("recording", self.error)
        if self.error and "error" not in info:
            info["error"] = self.error
        if status == "done":                              # the terminal and the page both hear it
            line = f"recording {self.walk_id} stopped: {frames} frames ({frames / self.show.opts.fps:.1f} s)"
            say(f"livegan: {line}, in {store.walk_dir(self.walk_id)}")
            self.show.notify(line)
        try:
            store.set_walk(self.walk_id, status=status, info=info)
        except Exception as e:                           # a full disk can refuse this too
            self.show.error("recording-db", f"recording: could not update the store ({e})")
            store.release(self.walk_id)
