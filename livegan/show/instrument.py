"""The show's part that plays the network itself (livegan/instrument): model mixing's network B
and blends, the bend slots and their channel clusters.  A part of Show, as loaders.py and
planner.py are: it reads and changes the show's state through the same handlers."""
from __future__ import annotations

from ..params import Command


class Instrument:
    def _setup_instrument(self) -> None:
        from stylegan3.layers import layer_channels

        from ..instrument.bends import BendSlots
        from ..instrument.clusters import Clusters
        from ..instrument.netmix import NetMix
        from ..store import network_identity

        self.netmix = NetMix(self.G, self.error)
        self.clusters = Clusters(self._load_checked)
        self.clusters.network_changed(self.network, network_identity(self.network))
        self.bends = BendSlots(self._bend_changed, self.error, self.clusters)
        self.bends.channels = layer_channels(self.G)
        self._bank_of = self.G                           # whose mapping the keyframe bank uses
        from ..instrument.mirror import Mirror
        self.mirror = Mirror(None, self._log_mirror)
        if self.opts.mirror:                             # a bad encoder file: one line, the show plays unmirrored
            from ..projection.encoder import load_encoder
            try:
                self.mirror.encoder = self.engine.encoder = load_encoder(self.opts.mirror, self.G,
                                                                         network_identity(self.network))
            except (ValueError, OSError) as e:
                self.error("mirror", f"--mirror {self.opts.mirror}: {e}; mirror off")

    def _instrument_handlers(self) -> dict:
        return {"netmix_network": self._netmix_network,
                "netmix_layers": lambda c: self.netmix.set_layers(str(c.value)),
                "netmix_frame": lambda c: self.netmix.set_frame(str(c.value)),
                "netmix_mapping": lambda c: self.netmix.set_mapping(str(c.value)),
                "apply_netmix": self._apply_netmix,
                "bend_op": lambda c: self.bends.command(c.value),
                "apply_bend": self._apply_bend,
                "apply_mirror": self._apply_mirror}

    def _instrument_network(self, G, source: str) -> None:
        """A new network plays: B must match it again; bends are resolved against its layers."""
        from stylegan3.layers import layer_channels

        from ..store import network_identity

        self.netmix.network_switched(G)
        self._bank_of = G                                # _use_network made the bank from G
        self.clusters.network_changed(source, network_identity(source))
        enc = self.mirror.encoder
        if enc is not None and (getattr(enc, "network_id", "") != network_identity(source) or enc.num_ws != G.num_ws):
            self.mirror.encoder = self.engine.encoder = None
            self.mirror.targets = []
            self.error("mirror", f"mirror off: the encoder is for another network than {source[-40:]}")
        self.bends.network(layer_channels(G))

    def _instrument_preset(self, preset, origin: str) -> None:
        self._netmix_preset(preset, origin)
        self.bends.pick_preset(preset)

    def _netmix_preset(self, preset, origin: str) -> None:
        """A preset's model mix: its network B loads (by the network load rule) and its layers apply."""
        if not preset.netmix:
            return
        try:
            self.policy.check("network", preset.netmix["network"], origin)
            self.netmix.set_frame(preset.netmix.get("frame", "a"))
            self.netmix.set_mapping(preset.netmix.get("mapping", "a"))
            self.netmix.set_layers(preset.netmix["layers"])
            self.netmix.load(preset.netmix["network"], self._load_checked)
        except ValueError as e:
            self.error("netmix", f"preset {preset.name}: netmix: {e}")

    # -- the live mirror (instrument/mirror.py) --------------------------------------------------
    def _log_mirror(self, tick: int, value: dict) -> None:
        if self.command_log is not None:
            self.command_log(self.tick_index, Command("apply_mirror", "mirror", value, "log"))

    def _follow_mirror(self) -> None:
        """Each tick: the input's newest picture to the encoder, a finished encoding as the target."""
        if self.mirror.encoder is not None:
            self.mirror.tick(self.tick_index, self.conditioner.current(), self.engine, self.registry.value,
                             self.planned_until)

    def _apply_mirror(self, cmd: Command) -> None:       # replay, a recording's header
        self.mirror.apply_logged(cmd.value, self.tick_index)   # from a tick not planned yet: no new generation

    # -- bend slots (instrument/bends.py) --------------------------------------------------------
    def _bend_changed(self, k: int) -> None:
        self.generation += 1
        if self.command_log is not None:                 # the replay gets the resolved channels
            self.command_log(self.tick_index, Command("apply_bend", "bend", self.bends.logged(k), "log"))

    def _apply_bend(self, cmd: Command) -> None:         # a slot's whole state (replay, a header)
        if not isinstance(cmd.value, dict):
            raise ValueError("apply_bend: expected {slot, bend}")
        self.bends.apply_logged(cmd.value)
        self.generation += 1

    def bend_state(self) -> list[dict]:
        return self.bends.state(self.registry.value)

    # -- model mixing (instrument/netmix.py) ------------------------------------------------------
    def _netmix_network(self, cmd: Command) -> None:
        source = str(cmd.value)
        self.policy.check("network", source, cmd.source)
        lim = self.limits["netmix_network"]
        if not lim.allow():
            raise ValueError(f"netmix networks: at most one every {1 / lim.rate:g} s ({lim.dropped} refused)")
        self.netmix.load(source, self._load_checked)

    def _load_checked(self, source: str):
        from stylegan3 import load_network

        from .loaders import first_frame

        G = load_network(source, device=self.device, precision=self.opts.dtype)
        self.check_runtime(G, source)
        first_frame(G, source)                   # B must render, finite, before it mixes in
        return G

    def _follow_netmix(self) -> None:
        self.netmix.follow(self.registry.value["netmix"])
        got = self.netmix.poll()
        if got is None:
            return
        M, (source, layers, amount, frame, mapping) = got
        self._render_with(M)
        if self.command_log is not None:                 # replayed at this very frame
            self.command_log(self.tick_index, Command("apply_netmix", "netmix", {
                "network": source, "layers": layers, "amount": amount, "frame": frame, "mapping": mapping}, "log"))

    def _apply_netmix(self, cmd: Command) -> None:       # replay, a recording's header
        v = cmd.value
        if not isinstance(v, dict):
            raise ValueError("apply_netmix: expected {network, layers, amount}")
        self._render_with(self.netmix.apply(str(v["network"]), str(v["layers"]), float(v["amount"]), self._load_checked,
                                            str(v.get("frame", "a")), str(v.get("mapping", "a"))))

    def _render_with(self, M) -> None:
        """The engine renders M (a blend of the playing network's) from the next batch on; the
        keyframes' ws come from the mapping the mix chose (A's, or B's with mapping b)."""
        from .loaders import make_bank

        self.generation += 1
        self.engine.swap_network(M, self.engine.canvas, self.engine.crop_width, self.generation)
        mapper = self.netmix.mapping_network() or self.G
        if self._bank_of is not mapper:
            self.bank, self._bank_of = make_bank(mapper), mapper

