// livegan's control page: built from /control/state (the show's parameter registry and OSC
// addresses), driven over /control/ws.  Every control sends an OSC address with its arguments;
// every change the show makes (MIDI, OSC, keys, audio, other pages) comes back and moves it.
"use strict";

const TOKEN = document.body.dataset.token || "";
const Q = TOKEN ? "?token=" + encodeURIComponent(TOKEN) : "";
const $ = (id) => document.getElementById(id);
const params = {};          // name -> registry entry (lo, hi, kind, default, unit)
const faders = {};          // name -> {input, val}
const values = {};          // the show's values, as last heard
const held = {};            // name -> time until which the hand on it wins over echoes
let ws = null, status = {}, scenes = [], sceneA = null, sceneB = null;
let pending = {}, scheduled = false, lastNotice = 0, lastPreset = null;

function el(tag, attrs = {}, text = "") {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
}

function send(obj) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj));
}

function osc(address, args = []) { send({address, args}); }

// A parameter change: shown at once, sent once per animation frame (a drag is not a flood).
function setParam(name, v) {
  const p = params[name];
  if (!p) return;
  v = Math.min(p.hi, Math.max(p.lo, Number(v)));
  if (p.kind === "int") v = Math.round(v);
  if (p.kind === "bool") v = v ? 1 : 0;
  values[name] = v;
  held[name] = performance.now() + 400;
  show(name, v);
  pending[name] = v;
  if (!scheduled) { scheduled = true; requestAnimationFrame(flush); }
}

function flush() {
  scheduled = false;
  for (const [n, v] of Object.entries(pending)) osc(params[n].address, [params[n].kind === "bool" ? !!v : v]);
  pending = {};
}

function fmt(p, v) {
  if (p.kind === "bool") return v ? "on" : "off";
  if (p.kind === "int") return String(Math.round(v));
  return Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(3);
}

function show(name, v) {
  const f = faders[name];
  if (!f) return;
  const p = params[name];
  if (p.kind === "bool") f.input.classList.toggle("on", !!v);
  else if (document.activeElement !== f.input || performance.now() > (held[name] || 0)) f.input.value = v;
  f.val.textContent = fmt(p, v) + (p.unit ? " " + p.unit : "");
}

function heard(updates) {
  for (const [n, v] of Object.entries(updates)) {
    values[n] = v;
    if (performance.now() < (held[n] || 0)) continue;      // the hand on this fader wins
    show(n, v);
  }
  drawPads();
}

function fader(p) {
  params[p.name] = p;
  values[p.name] = p.value;
  const box = el("div", {class: "fader", title: p.doc});
  const label = el("label");
  label.append(el("span", {}, p.name), el("span", {class: "val"}));
  let input;
  if (p.kind === "bool") {
    input = el("button", {"data-param": p.name, "aria-label": p.name}, p.name);
    input.addEventListener("click", () => setParam(p.name, values[p.name] ? 0 : 1));
  } else {
    input = el("input", {type: "range", min: p.lo, max: p.hi, step: p.kind === "int" ? 1 : "any",
                         value: p.value, "data-param": p.name, "aria-label": p.name});
    input.addEventListener("input", () => setParam(p.name, Number(input.value)));
    input.addEventListener("dblclick", () => { setParam(p.name, p.default); input.value = p.default; });
  }
  box.append(label, input);
  faders[p.name] = {input, val: label.querySelector(".val")};
  show(p.name, p.value);
  return box;
}

function buildGroups(groups) {
  const root = $("groups");
  for (const g of groups) {
    const sec = el("section", {class: "panel", "data-group": g.name});
    sec.append(el("h2", {}, g.name));
    for (const p of g.params) sec.append(fader(p));
    root.append(sec);
  }
  const names = Object.keys(params).filter((n) => params[n].kind !== "bool");
  for (const [sel, dflt] of [[$("xy-x"), "rotate"], [$("xy-y"), "psi"]]) {
    for (const n of names) sel.append(el("option", {value: n}, n));
    sel.value = names.includes(dflt) ? dflt : names[0];
    sel.addEventListener("change", drawPads);
  }
}

function norm(n) { const p = params[n]; return p.hi === p.lo ? 0 : (values[n] - p.lo) / (p.hi - p.lo); }

function padDrag(pad, onMove) {
  const at = (ev) => {
    const r = pad.getBoundingClientRect();
    onMove(Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width)), Math.min(1, Math.max(0, (ev.clientY - r.top) / r.height)));
  };
  pad.addEventListener("pointerdown", (ev) => { pad.setPointerCapture(ev.pointerId); at(ev); });
  pad.addEventListener("pointermove", (ev) => { if (pad.hasPointerCapture(ev.pointerId)) at(ev); });
}

function place(pad, x, y) {
  const dot = pad.querySelector(".dot");
  dot.style.left = (x * 100) + "%";
  dot.style.top = (y * 100) + "%";
}

function drawPads() {
  const x = $("xy-x").value, y = $("xy-y").value;
  if (params[x] && params[y]) place($("xy"), norm(x), 1 - norm(y));
  if (params.pad_x) place($("latent"), values.pad_x, values.pad_y);
}

function buildPads() {
  padDrag($("xy"), (u, v) => {
    const x = params[$("xy-x").value], y = params[$("xy-y").value];
    setParam(x.name, x.lo + u * (x.hi - x.lo));
    setParam(y.name, y.lo + (1 - v) * (y.hi - y.lo));
    drawPads();
  });
  padDrag($("latent"), (u, v) => {
    if (!values.pad) setParam("pad", 1);
    setParam("pad_x", u);
    setParam("pad_y", v);
    drawPads();
  });
  $("pad-off").addEventListener("click", () => setParam("pad", 0));
  for (const inp of document.querySelectorAll("[data-corner]")) {
    inp.addEventListener("change", () => osc("/livegan/pad/corner/" + inp.dataset.corner, [Math.max(0, Math.round(Number(inp.value)))]));
  }
}

function buildTransport() {
  for (const b of document.querySelectorAll("button[data-address]")) b.addEventListener("click", () => osc(b.dataset.address));
  $("record").addEventListener("click", () => osc("/livegan/record", [status.recording ? 0 : 1]));
  $("seed-go").addEventListener("click", () => osc("/livegan/seed", [Math.max(0, Math.round(Number($("seed").value)))]));
  $("save").addEventListener("click", () => {
    const name = $("save-name").value.trim();
    if (name) osc("/livegan/save_preset", [name]);
  });
  $("network-go").addEventListener("click", () => { if ($("networks").value) osc("/livegan/network", [$("networks").value]); });
}

function buildGotos(n) {
  const row = $("gotos");
  if (row.childElementCount === n) return;
  row.replaceChildren();
  for (let i = 0; i < n; i++) {
    const b = el("button", {"data-goto": i, title: "jump to keyframe " + i}, String(i));
    b.addEventListener("click", () => osc("/livegan/keyframe/goto", [i]));
    row.append(b);
  }
}

function buildPresets(list) {
  const root = $("presets");
  root.replaceChildren();
  for (const p of list) {
    const b = el("button", {class: "preset", "data-preset": p.name, title: "play " + p.name});
    if (p.thumb) b.append(el("img", {src: "/control/thumb/" + encodeURIComponent(p.name) + Q, alt: ""}));
    b.append(el("span", {}, p.name));
    b.addEventListener("click", () => osc("/livegan/preset", [p.name]));
    root.append(b);
  }
}

function buildNetworks(list) {
  const sel = $("networks");
  sel.replaceChildren();
  for (const n of list) sel.append(el("option", {value: n}, n.split("/").pop()));
}

function buildSlots(directions) {
  const root = $("slots");
  for (let k = 0; k < 8; k++) {
    const row = el("div", {class: "slot"});
    const pick = el("select", {"data-slot": k, "aria-label": "direction slot " + k});
    for (const d of ["none"].concat(directions)) pick.append(el("option", {value: d}, k + ": " + d));
    pick.addEventListener("change", () => osc("/livegan/direction/" + k + "/pick", [pick.value]));
    const zone = el("select", {"data-zone": k, "aria-label": "zone of slot " + k});
    for (const z of ["all", "coarse", "middle", "fine"]) zone.append(el("option", {value: z}, z));
    zone.addEventListener("change", () => osc("/livegan/direction/" + k + "/zone", [zone.value]));
    row.append(pick, zone);
    root.append(row);
  }
}

function buildScenes() {
  const root = $("scenes");
  for (let k = 0; k < 8; k++) {
    const b = el("button", {class: "scene", "data-scene": k, title: "tap: A, again: B; hold or double-tap: store"}, String(k + 1));
    let timer = null;
    b.addEventListener("pointerdown", () => { timer = setTimeout(() => { timer = null; send({scene: k, op: "store"}); }, 600); });
    b.addEventListener("pointerup", () => {
      if (timer === null) return;                       // the hold stored it
      clearTimeout(timer);
      if (!scenes[k]) return;
      if (sceneA === k) sceneB = k; else if (sceneA === null || sceneB !== null) { sceneA = k; sceneB = null; } else sceneB = k;
      drawScenes();
    });
    b.addEventListener("dblclick", () => send({scene: k, op: "store"}));
    root.append(b);
  }
  $("ab").addEventListener("input", () => {
    const a = scenes[sceneA], b = scenes[sceneB];
    if (!a || !b) return;
    const t = Number($("ab").value);
    for (const n of Object.keys(a)) {
      if (!(n in b) || !params[n]) continue;
      const v = params[n].kind === "float" ? a[n] + (b[n] - a[n]) * t : (t < 0.5 ? a[n] : b[n]);
      if (v !== values[n]) setParam(n, v);
    }
  });
}

function drawScenes() {
  for (const b of document.querySelectorAll(".scene")) {
    const k = Number(b.dataset.scene);
    b.classList.toggle("stored", !!scenes[k]);
    b.classList.toggle("a", sceneA === k);
    b.classList.toggle("b", sceneB === k);
  }
}

function showStatus(st) {
  status = st;
  $("status").textContent = `${Number(st.fps || 0).toFixed(1)} fps · frame ${st.frame} · keyframe ${st.keyframe}` +
    ` · ${st.preset} · ${String(st.network || "").split("/").pop()}` + (st.errors ? ` · ${st.errors} problems` : "");
  $("record").classList.toggle("on", !!st.recording);
  buildGotos(st.keyframes || 0);
  for (const inp of document.querySelectorAll("[data-corner]")) {
    const s = (st.corners || [])[Number(inp.dataset.corner)];
    if (document.activeElement !== inp && s !== null && s !== undefined) inp.value = s;
  }
  if (st.notice_n && st.notice_n !== lastNotice) { lastNotice = st.notice_n; note(st.notice); }
  if (lastPreset !== null && st.preset !== lastPreset) setTimeout(() => fetchState(false), 2000);   // its new thumbnail
  lastPreset = st.preset;
  const routes = $("routes");
  routes.replaceChildren();
  for (const r of st.routes || []) routes.append(el("div", {}, `mod ${r.slot}: ${r.source} → ${r.target}`));
  for (const [i, l] of (st.lfos || []).entries()) routes.append(el("div", {}, `lfo${i + 1}: ${l.shape} ${l.rate}${l.sync ? " beats" : " Hz"}`));
  for (const m of st.messages || []) routes.append(el("div", {class: "problem"}, "! " + m));
}

function note(text) {
  $("notice").textContent = text || "";
  if (text && text.startsWith("saved preset")) fetchState(false);
}

function showMeters(m) {
  const root = $("meters");
  for (const [k, v] of Object.entries(m)) {
    let bar = root.querySelector(`[data-meter="${CSS.escape(k)}"]`);
    if (!bar) {
      root.append(el("div", {}, k));
      bar = el("div", {class: "meter", "data-meter": k});
      bar.append(el("div"));
      root.append(bar);
    }
    bar.firstChild.style.width = Math.round(Math.min(1, Math.max(0, Number(v))) * 100) + "%";
  }
}

// A visible page says it is there every 20 s (the show closes a page silent for 90 s); a hidden
// one stays quiet, and once closed it reconnects when it is shown again.
setInterval(() => { if (document.visibilityState === "visible") send({alive: 1}); }, 20000);

function connect() {
  ws = new WebSocket(`ws://${location.host}/control/ws${Q}`);
  ws.onopen = () => { $("conn").textContent = "live"; $("conn").className = "ok"; };
  ws.onclose = () => {
    $("conn").textContent = "reconnecting…"; $("conn").className = "bad";
    if (document.visibilityState === "visible") { setTimeout(connect, 1000); return; }
    document.addEventListener("visibilitychange", function again() {
      if (document.visibilityState !== "visible") return;
      document.removeEventListener("visibilitychange", again);
      connect();
    });
  };
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.type === "values") heard(m.values);
    else if (m.type === "status") showStatus(m.status);
    else if (m.type === "meters") showMeters(m.meters);
    else if (m.type === "scenes") { scenes = m.scenes; drawScenes(); }
    else if (m.type === "notice" || m.type === "error") note((m.type === "error" ? "! " : "") + m.text);
  };
}

async function fetchState(first) {
  const r = await fetch("/control/state" + Q, {cache: "no-store"});
  if (!r.ok) { note("! " + ((await r.json()).error || r.statusText)); return; }
  const st = await r.json();
  if (first) {
    buildGroups(st.groups);
    buildPads();
    buildTransport();
    buildSlots(st.directions);
    buildScenes();
  }
  buildPresets(st.presets);
  buildNetworks(st.networks);
  scenes = st.scenes;
  drawScenes();
  if (st.status && Object.keys(st.status).length) showStatus(st.status);
  drawPads();
  if (first) { document.body.dataset.ready = "1"; connect(); }
}

// The monitor: the program and the layer view, a few times a second while the page is shown and
// connected; the next picture is asked for when the last one has arrived (a slow phone gets fewer).
function watch(img, path, every, wanted = () => true) {
  let n = 0;
  const again = () => setTimeout(load, every);
  function load() {
    if (!wanted()) { img.hidden = true; again(); return; }
    if (document.visibilityState !== "visible" || !ws || ws.readyState !== WebSocket.OPEN) { again(); return; }
    const probe = new Image();
    probe.onload = () => { img.src = probe.src; img.hidden = false; again(); };
    probe.onerror = () => { img.hidden = true; again(); };
    probe.src = path + (Q ? Q + "&" : "?") + "n=" + (n++);
  }
  load();
}

fetchState(true);
watch($("preview"), "/control/preview.jpg", 250);
watch($("layerview"), "/control/layerview.png", 250, () => (values.layer_view ?? -1) >= 0);
