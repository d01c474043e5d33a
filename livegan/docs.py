"""Generates docs/osc.md from the parameter registry and the OSC address table:
`python -m livegan.docs` rewrites it (a test checks it is current)."""
from __future__ import annotations

from pathlib import Path

from .control.osc import address_table
from .params import PARAMS

DOCS = Path(__file__).resolve().parents[1] / "docs"

HEAD = """# OSC

livegan listens for OSC over UDP on port 9000 (`--osc-port`). By default only this machine is
heard and the port is bound to 127.0.0.1; `--osc-allow HOST|CIDR` admits other senders (then it binds
all interfaces and drops everyone else) and `--osc-allow any` opens it to the whole network. Over OSC,
presets and networks load only by name or from `--load-dir` folders, never an arbitrary path or URL
unless `--allow-remote-load`. What is exposed is printed at start. Every parameter is `/livegan/<name> <value>`; `/livegan/norm/<name> <0..1>` takes a
normalised value (what faders send) and `/livegan/add/<name> <delta>` a relative one (encoders).
Out-of-range values are clamped and counted. Address wildcards (`?`, `*`, `[a-z]`, `{a,b}`) work, and
bundles with a future time tag (at most 60 s ahead, 1024 waiting) are applied at their time. Patterns
are matched in linear time (at most 256 characters, 32 wildcards). Malformed packets, bad patterns,
non-finite numbers and failing commands are counted and logged once per kind; they never stop the
show, and the receiver is restarted (the HUD says so) if it ever dies. Snapshots (4/s), record
toggles (2/s) and network loads (one every 2 s, one at a time) are rate-limited; refusals are counted.

With `--osc-out HOST:PORT` every parameter change is sent back (same addresses, float), whatever
caused it - OSC, MIDI, a preset switch, tap tempo, MIDI clock, learn - plus status twice a second:
`/livegan/status/fps`, `/frame`, `/keyframe`, `/recording`, `/preset`, `/network`, `/errors`. The
whole state goes out when the show starts and whenever a target sends `/livegan/status/sync` (e.g. a
panel that was just opened), so TouchDesigner/Max panels and motorised faders follow. A HOST
name is looked up once, off the main thread, and every minute after (a panel whose address
changed is followed); one that does not resolve yet (the show machine booted before the network)
is said once and tried every 5 s while the show plays.

The namespace is also served as OSCQuery JSON at `http://HOST:9001/` (`--oscquery-port`; `?HOST_INFO`
gives the OSC port), status included (read only), and advertised over mDNS as `_oscjson._tcp` as
`livegan on HOST (PORT)`, one name per instance (`--no-oscquery` to turn both off).
OSCQuery clients such as Chataigne can LISTEN over a websocket on the same port: send
`{"COMMAND": "LISTEN", "DATA": "/livegan/psi"}` and every change of that value arrives as a binary
OSC message (`IGNORE` stops it). The tree keeps the OSCQuery model strict clients (python-oscquery)
check: a node is a container (ACCESS 0) or a method, never both, and a method with arguments carries a
VALUE of its type. A parameter whose address also has children (`/livegan/mod/K` with `/route`...,
`/livegan/direction/K` with `/pick`) is listed there as `/livegan/mod/K/value`; both forms set it.

A flood from any number of addresses delays another sender's message by about one datagram per
flooder and never starves the display: a parameter's values are coalesced across senders, the
rest waits in bounded backlogs per kind, datagrams are served in fair order by cost, and the control
surfaces share one CPU budget (`docs/floods.md`, measured by `python bench/floods.py`).

## Examples

TouchDesigner: an **OSC Out CHOP** with Network Address = the livegan machine, Network Port = 9000,
OSC Address Scope `/livegan`: a channel named `psi` sends `/livegan/psi`. Put `norm/` in front of channel
names (`norm/psi`) to send 0..1 from sliders. For feedback, an **OSC In CHOP** on the `--osc-out` port.

Max: `[udpsend 192.168.1.20 9000]` fed by `[prepend /livegan/psi]`, or a message box
`/livegan/keyframe/next`. For feedback, `[udpreceive 9002]` with `livegan --osc-out max-host:9002`.

Command line (liblo): `oscsend localhost 9000 /livegan/psi f 0.5`,
`oscsend localhost 9000 /livegan/preset s drift`.

## Parameters

| address | type | range | default | slew (s) | what |
|---|---|---|---|---|---|
"""


def osc_markdown() -> str:
    rows = []
    for p in PARAMS:
        t = {"float": "f", "int": "i", "bool": "T/F"}[p.kind]
        rng = "0/1" if p.kind == "bool" else f"{p.lo:g} .. {p.hi:g}"
        rows.append(f"| `/livegan/{p.name}` | {t} | {rng} | {p.default:g} | {p.slew:g} | {p.doc} |")
    cmds = [a for a in address_table() if a.param is None]
    out = HEAD + "\n".join(rows) + "\n\n## Commands\n\n| address | arguments | what |\n|---|---|---|\n"
    out += "\n".join(f"| `{a.path}` | {a.types or '-'} | {a.doc} |" for a in cmds)
    return out + "\n"


def main() -> None:
    DOCS.mkdir(exist_ok=True)
    (DOCS / "osc.md").write_text(osc_markdown())
    print(f"wrote {DOCS / 'osc.md'}")


if __name__ == "__main__":
    main()
