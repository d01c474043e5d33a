"""`livegan perform` and `perform.py`: the live show's options; `launch` wires and runs it."""
from __future__ import annotations

import argparse

from ..argtypes import host_port, ndi_name, number, port, ratio, size as size_type, stream_url
from ..codecs import RECORD_CODECS


def add_perform_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--network", "-n", default=None,
                   help="network: .pkl, .safetensors, URL, builtin:NAME, a published name such as "
                        "stylegan3-r-afhqv2-512 (`livegan networks`), or run:NAME: a training run's newest snapshot, "
                        "then each new one as it is written (default: the preset's, else builtin:tiny)")
    p.add_argument("--preset", "-p", default="default", help="preset name in presets/ or a .json path (default: %(default)s)")
    p.add_argument("--fullscreen", action="store_true", help="full-screen window")
    p.add_argument("--screen", type=number(0, 63, integer=True), default=0, help="screen index for the window, see --list-screens (default: %(default)s)")
    p.add_argument("--list-screens", action="store_true", help="list screens and exit")
    p.add_argument("--size", type=size_type(), default=None,
                   help="window or output size WxH, 16..8192 a side (default: 1280x720 window; the frame size headless)")
    p.add_argument("--fit", default="fit", choices=["fit", "fill", "stretch"], help="aspect handling (default: %(default)s)")
    p.add_argument("--fps", type=number(1, 1000), default=None,
                   help="display frame rate, 1..1000 (default: the screen's refresh rate in a window, with vsync; "
                        "30 headless)")
    p.add_argument("--batch", type=number(1, 64, integer=True), default=1,
                   help="generator batch size for look-ahead, 1..64 (default: %(default)s; 4-8 on a GPU)")
    p.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda (default: %(default)s)")
    p.add_argument("--dtype", default="auto", choices=["auto", "fp32", "fp16", "bf16"],
                   help="synthesis precision: auto = the checkpoint's fp16 layers in fp16 on CUDA, all fp32 on the "
                        "CPU; fp16/bf16 = every synthesis layer in that type on any device (bf16 is the CPU's fast "
                        "one); fp32 (default: %(default)s)")
    p.add_argument("--cuda-graphs", action="store_true",
                   help="replay captured CUDA graphs for fixed batch shapes (CUDA only: on the CPU it is off, and "
                        "the start line says so)")
    p.add_argument("--canvas", type=ratio, default=None,
                   help="wide canvas for StyleGAN3, e.g. 16:9, between 1:8 and 8:1 (default: the network's square)")
    p.add_argument("--input", action="append", metavar="SOURCE",
                   help="StyleGAN-Canvas condition: v4l2:/dev/videoN (camera), a video file (looped), an image, a "
                        "folder of images (one per keyframe), ndi:NAME, feedback (the show's own output) or pattern; "
                        "repeatable, 'i' and /livegan/input switch live (default: pattern)")
    p.add_argument("--mirror", default=None, metavar="ENC",
                   help="the live mirror: an encoder (`livegan train encoder`) of this network; the knob mirror "
                        "pulls the show toward what it makes of the --input picture (camera, video, NDI, image, "
                        "folder, feedback)")
    p.add_argument("--audio", default=None, metavar="NAME",
                   help="analyse this audio input (PortAudio device name substring; 'default'); see --audio-list")
    p.add_argument("--audio-list", action="store_true", help="list audio input devices and exit")
    p.add_argument("--audio-file", default=None, metavar="FILE",
                   help="analyse a sound file played along, looped (rehearsal; instead of --audio)")
    p.add_argument("--audio-play", action="store_true", help="with --audio-file: also play it to the default output")
    p.add_argument("--audio-block", type=int, choices=[64, 128, 256, 512], default=256,
                   help="analysis block in samples at 48 kHz (default: %(default)s, about 5 ms)")
    p.add_argument("--bass-hz", type=number(20, 2000), default=150.0, help="bass band: below this (default: %(default)s Hz)")
    p.add_argument("--high-hz", type=number(200, 20000), default=2500.0,
                   help="high band: above this; mid is between (default: %(default)s Hz)")
    p.add_argument("--onset-sensitivity", type=number(0, 1), default=0.5,
                   help="onset detection 0..1: 0 only big attacks, 1 every small one (default: %(default)s)")
    p.add_argument("--audio-bpm", action="store_true", help="the beat tracker sets the show's tempo")
    p.add_argument("--link", action="store_true", help="join an Ableton Link session: tempo follows it, taps lead it")
    p.add_argument("--headless", action="store_true", help="render without a display (EGL), for servers and tests")
    p.add_argument("--frames", type=number(1, 10_000_000, integer=True), default=None,
                   help="headless: number of display frames, at least 1")
    p.add_argument("--duration", type=number(0.001, 7 * 86400), default=None,
                   help="headless: seconds to run, more than 0 (default: 10)")
    p.add_argument("--offline", action="store_true", help="headless: wait for every frame instead of keeping real time")
    p.add_argument("--video", default="perform.mp4", help="headless: video file name in --out, '' for none (default: %(default)s)")
    p.add_argument("--store", "--out", dest="out", default="recordings",
                   help="the store: recordings, snapshots and the headless video go there (--out: its old name; "
                        "default: %(default)s)")
    p.add_argument("--exit-after", type=number(0, 7 * 86400), default=None, help="window: close after this many seconds (installations, checks)")
    p.add_argument("--screenshot", default=None, help="window: save the last frame to this PNG when closing with --exit-after (with --output-screen also NAME-output.png and NAME-program.png)")
    p.add_argument("--osc-port", type=port, default=9000, help="OSC UDP port to listen on, 1..65535 (default: %(default)s)")
    p.add_argument("--osc-host", default="auto",
                   help="address OSC and OSCQuery listen on; auto = 127.0.0.1, or all interfaces when "
                        "--osc-allow admits other hosts (default: %(default)s)")
    p.add_argument("--osc-allow", action="append", metavar="HOST|CIDR|any",
                   help="also accept OSC/OSCQuery from this host or range, or from anyone with 'any' "
                        "(repeatable; default: this machine only)")
    p.add_argument("--osc-out", type=host_port, default=None, metavar="HOST:PORT",
                   help="send parameter changes and status here (e.g. TouchDesigner)")
    p.add_argument("--load-dir", action="append", metavar="DIR",
                   help="a folder OSC may load presets and networks from (repeatable; default: presets/ only)")
    p.add_argument("--allow-remote-load", action="store_true",
                   help="let OSC load any path or URL (off: a stranger could make the show download anything)")
    p.add_argument("--no-osc", action="store_true", help="do not listen for OSC")
    p.add_argument("--oscquery-port", type=port, default=9001, help="OSCQuery HTTP port (default: %(default)s)")
    p.add_argument("--no-oscquery", action="store_true", help="no OSCQuery HTTP server and no mDNS advertising "
                                                              "(and so no control page)")
    p.add_argument("--control-allow", action="append", metavar="HOST|CIDR|any",
                   help="let this host or range open the control page (/control on the OSCQuery port) with the "
                        "token printed at start (repeatable; default: this machine only, no token)")
    p.add_argument("--no-control", action="store_true", help="no control page at /control")
    p.add_argument("--preset-dir", default=None, metavar="DIR",
                   help="folder 'save as preset' (control page, /livegan/save_preset) writes into (default: presets/)")
    p.add_argument("--midi", action="append", metavar="NAME", help="MIDI input port by name substring (repeatable)")
    p.add_argument("--midi-map", default="nanokontrol2", help="controller map in presets/midi/ or a .json path (default: %(default)s)")
    p.add_argument("--midi-list", action="store_true", help="list MIDI input ports and exit")
    p.add_argument("--midi-backend", default="rtmidi", help="mido backend, e.g. rtmidi or rtmidi/UNIX_JACK (default: %(default)s)")
    p.add_argument("--record", action="store_true", help="start recording the session at once (r toggles)")
    p.add_argument("--codec", default="h264", choices=RECORD_CODECS,
                   help="recording codec: h264 .mp4, ProRes 422 HQ .mov, lossless FFV1 .mkv (default: %(default)s)")
    p.add_argument("--stream", type=stream_url, default=None, metavar="URL",
                   help="send the program as a low-latency H.264 stream: udp://HOST:PORT (MPEG-TS), tcp://, rtp://, "
                        "rtmp://, srt:// where FFmpeg has it (PyAV's has not) (default: none)")
    p.add_argument("--ndi", type=ndi_name, default=None, metavar="NAME",
                   help="send the program as an NDI source of this name (receivers list it as 'HOST (NAME)'; "
                        "default: none)")
    p.add_argument("--v4l2", default=None, metavar="/dev/videoN",
                   help="send the program to a v4l2loopback virtual camera (Linux; default: none)")
    p.add_argument("--output-screen", type=number(0, 63, integer=True), default=None, metavar="N",
                   help="show the clean program full-screen on screen N (the projector) while this window keeps "
                        "the HUD and a preview; N = the window's own screen opens it as a second window "
                        "(default: none)")
    p.add_argument("--record-size", type=size_type(max_pixels=4096 * 4096), default=None,
                   help="size of the program (recordings, snapshots, headless video) WxH; another aspect is "
                        "cropped, never letterboxed (default: the canvas's own size)")
    p.add_argument("--crf", type=number(0, 51, integer=True), default=18,
                   help="H.264 quality 0..51, lower is better (default: %(default)s)")
    p.add_argument("--threads", type=number(0, 256, integer=True), default=0,
                   help="generator CPU threads; 0 = auto: LIVEGAN_THREADS, else the cores minus one, at least 1 (encoder and GL "
                        "take one each)")
    p.add_argument("--dev", action="store_true", help="reload shaders when their files change")
    p.add_argument("--no-hud", action="store_true", help="start with the HUD hidden (h toggles it)")


def register(sub) -> None:
    p = sub.add_parser("perform", help="the live show (what perform.py runs)")
    add_perform_args(p)
    p.set_defaults(func=run)



def run(args) -> int:
    from ..launch import launch

    return launch(args)
