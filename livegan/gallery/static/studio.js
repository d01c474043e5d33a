// livegan studio: plain JS, no build step, no CDN.  The filter controls are built from the
// server's declaration (/api/filters, the same table parse_filters reads), so a new filter needs
// no change here.
"use strict";
const Studio = (() => {
  const $ = (s, el = document) => el.querySelector(s);
  // Data never becomes markup: every element is built, every text set as text.
  function h(tag, attrs = {}, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") el.className = v; else if (k === "text") el.textContent = v; else el.setAttribute(k, v);
    }
    for (const k of kids) if (k !== null && k !== undefined) el.append(k);   // strings append as text
    return el;
  }
  const tags = (list) => list.flatMap((t, i) => (i ? [" ", h("span", { class: "tag", text: t })] : [h("span", { class: "tag", text: t })]));
  const toast = (msg) => { const t = $("#toast"); t.textContent = msg; t.classList.add("on");
    clearTimeout(toast.t); toast.t = setTimeout(() => t.classList.remove("on"), 2500); };

  async function api(method, url, data) {
    const opt = { method, headers: {} };
    if (data !== undefined) { opt.headers["Content-Type"] = "application/json"; opt.body = JSON.stringify(data); }
    const r = await fetch(url, opt);
    const j = await r.json().catch(() => ({ error: `${r.status} ${r.statusText}` }));
    if (!r.ok) { toast(j.error || `${r.status}`); throw new Error(j.error); }
    return j;
  }

  // -- walks page -----------------------------------------------------------------------------
  function walksPage() {
    document.querySelectorAll(".card").forEach((card) => {
      const id = card.dataset.walk;
      $(".walk-name", card).addEventListener("change", async (e) => {
        await api("POST", `/api/walks/${id}`, { name: e.target.value }); toast("renamed");
      });
      $(".archive", card).addEventListener("click", async (e) => {
        await api("POST", `/api/walks/${id}`, { archived: e.target.dataset.archived === "1" }); card.remove();
      });
      $(".delete", card).addEventListener("click", async () => {
        if (!confirm(`Delete walk ${id} with all its images and videos?`)) return;
        await api("DELETE", `/api/walks/${id}`); card.remove(); toast(`walk ${id} deleted`);
      });
    });
  }

  // -- images page ----------------------------------------------------------------------------
  function filterControls(decl, params) {
    const form = $("#filters");
    for (const f of decl) {
      const label = document.createElement("label");
      label.textContent = f.label + " ";
      let input;
      if (f.kind === "flag") {
        input = document.createElement("input"); input.type = "checkbox";
        input.checked = params.get(f.name) === "1";
      } else if (f.kind === "choice") {
        input = document.createElement("select");
        input.add(new Option("any", ""));
        for (const c of f.choices) input.add(new Option(c, c));
        input.value = params.get(f.name) || "";
      } else {
        input = document.createElement("input");
        input.type = f.kind === "date" ? "date" : (f.kind === "int" ? "number" : "text");
        input.value = params.get(f.name) || "";
        if (f.suggest) {
          const dl = document.createElement("datalist"); dl.id = `dl-${f.name}`;
          for (const s of f.suggest) dl.append(new Option(s));
          form.append(dl); input.setAttribute("list", dl.id);
        }
      }
      input.name = f.name; input.dataset.kind = f.kind;
      label.append(input); form.append(label);
    }
    form.addEventListener("change", () => {
      const q = new URLSearchParams();
      for (const el of form.elements) {
        if (!el.name) continue;
        if (el.dataset.kind === "flag") { if (el.checked) q.set(el.name, "1"); }
        else if (el.value) q.set(el.name, el.value);
      }
      location.search = q.toString();
    });
    form.addEventListener("submit", (e) => e.preventDefault());
  }

  function imagesPage(decl) {
    dropZone();
    const params = new URLSearchParams(location.search);
    filterControls(decl, params);
    const grid = $("#grid"), more = $("#more");
    let page = 0, pages = 1, loading = false, focus = -1;
    const selection = [];

    function cell(img) {
      const a = document.createElement("a");
      a.className = "cell"; a.href = `/image/${img.id}`; a.dataset.id = img.id; a.tabIndex = -1;
      a.append(h("img", { loading: "lazy", src: `/thumb/${Number(img.id)}`, alt: `image ${Number(img.id)}` }),
               h("span", { class: "badge like", text: img.liked ? "♥" : "" }), h("span", { class: "badge sel" }),
               h("span", { class: "caption" }, ...tags(img.tags)));
      a.dataset.liked = img.liked ? "1" : "0";
      a.dataset.ws = img.has_ws ? "1" : "0";
      return a;
    }

    async function loadMore() {
      if (loading || page >= pages) return;
      loading = true;
      const q = new URLSearchParams(params); q.set("page", page + 1);
      const j = await api("GET", `/api/images?${q}`);
      page = j.page; pages = j.pages;
      $("#count").textContent = `${j.total} images`;
      for (const img of j.images) grid.append(cell(img));
      loading = false;
      if (focus < 0 && grid.children.length) move(0);
    }
    new IntersectionObserver((e) => { if (e[0].isIntersecting) loadMore(); }).observe(more);
    loadMore();

    const cells = () => grid.children;
    function move(i) {
      const c = cells();
      if (!c.length) return;
      focus = Math.max(0, Math.min(c.length - 1, i));
      for (const el of c) el.classList.remove("focus");
      c[focus].classList.add("focus"); c[focus].focus({ preventScroll: false });
    }
    const perRow = () => {
      const c = cells(); if (c.length < 2) return 1;
      const top = c[0].offsetTop; let n = 0;
      for (const el of c) { if (el.offsetTop !== top) break; n++; }
      return n || 1;
    };
    async function like(el) {
      const liked = el.dataset.liked !== "1";
      await api("POST", `/api/images/${el.dataset.id}/like`, { liked });
      el.dataset.liked = liked ? "1" : "0"; $(".like", el).textContent = liked ? "♥" : "";
    }
    async function tag(el) {
      const t = prompt("tag"); if (!t) return;
      const j = await api("POST", `/api/images/${el.dataset.id}/tags`, { tag: t });
      $(".caption", el).replaceChildren(...tags(j.tags));
    }
    function select(el) {
      const id = Number(el.dataset.id), i = selection.indexOf(id);
      if (el.dataset.ws !== "1") { toast("this image keeps no ws: it cannot be a keyframe"); return; }
      if (i >= 0) selection.splice(i, 1); else selection.push(id);
      for (const c of cells()) {
        const k = selection.indexOf(Number(c.dataset.id));
        $(".sel", c).textContent = k >= 0 ? String(k + 1) : ""; c.classList.toggle("selected", k >= 0);
      }
      $("#selection").replaceChildren(...selection.map((s) => h("li", { text: `image ${s}` })));
      $("#selcount").textContent = `${selection.length} selected`;
      $("#create").disabled = selection.length < 2;
    }
    grid.addEventListener("keydown", (e) => {
      const c = cells(); if (!c.length) return;
      const el = c[Math.max(focus, 0)];
      const k = e.key;
      if (k === "ArrowRight") move(focus + 1);
      else if (k === "ArrowLeft") move(focus - 1);
      else if (k === "ArrowDown") move(focus + perRow());
      else if (k === "ArrowUp") move(focus - perRow());
      else if (k === "l") like(el);
      else if (k === "t") tag(el);
      else if (k === "s") select(el);
      else if (k === "Enter") location.href = el.href;
      else return;
      e.preventDefault();
      if (focus >= c.length - 6) loadMore();
    });
    grid.addEventListener("click", (e) => {
      const el = e.target.closest(".cell"); if (!el) return;
      const i = Array.prototype.indexOf.call(cells(), el);
      if (e.shiftKey || e.ctrlKey || e.metaKey) { e.preventDefault(); move(i); select(el); return; }
      if (i !== focus) { e.preventDefault(); move(i); }       // first click focuses, second opens
    });

    $("#create").addEventListener("click", async () => {
      const j = await api("POST", "/api/curate", {
        images: selection, name: $("#cname").value, interpolation: $("#interp").value,
        frames_per_key: Number($("#fpk").value), psi: Number($("#cpsi").value), loop: $("#cloop").checked,
        preset: $("#cpreset").checked, render: $("#crender").checked,
      });
      $("#curated").textContent = (j.preset ? `preset ${j.preset} saved (perform.py --preset ${j.preset}). ` : "") +
        (j.render_id ? `render ${j.render_id} queued.` : "");
      pollRenders();
    });
    pollRenders();
  }

  let polling = null;
  // A dropped picture is projected (POST /project, then followed until its image is in the store).
  function dropZone() {
    const zone = $("#drop"), file = $("#dropfile"), say = $("#dropstatus");
    if (!zone) return;
    async function send(f) {
      if (!f || !f.type.startsWith("image/")) { toast("drop a picture (PNG, JPEG...)"); return; }
      const name = f.name.replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9_-]/g, "").slice(0, 60) || "dropped";
      const steps = Math.max(0, Math.min(2000, Number($("#dropsteps").value) || 200));
      const r = await fetch(`/project?name=${encodeURIComponent(name)}&steps=${steps}`, { method: "POST", headers: { "Content-Type": f.type }, body: f });
      const j = await r.json().catch(() => ({ error: `${r.status}` }));
      if (!r.ok) { toast(j.error); say.textContent = ` ${j.error}`; return; }
      for (;;) {
        const s = await api("GET", `/project/${j.job}`);
        say.textContent = ` ${name}: ${s.status} ${Math.round(100 * s.progress)}%`;
        if (s.status === "done") {
          say.textContent = ` ${name}: done `;
          say.append(h("a", { href: `/image/${s.image}`, id: "projected", text: "open the projection" }));
          return;
        }
        if (s.status === "failed") { say.textContent = ` ${name}: ${s.error}`; return; }
        await new Promise((ok) => setTimeout(ok, 500));
      }
    }
    zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => { e.preventDefault(); zone.classList.remove("over"); send(e.dataTransfer.files[0]); });
    file.addEventListener("change", () => send(file.files[0]));
  }

  async function pollRenders() {
    clearTimeout(polling);
    const j = await api("GET", "/api/renders");
    const ul = $("#renders"); ul.replaceChildren();
    let busy = false;
    for (const r of j.renders) {
      const li = document.createElement("li"); li.dataset.render = r.id; li.dataset.status = r.status;
      const pct = Math.round((r.progress || 0) * 100);
      li.append(h("b", { text: r.name || `walk ${r.walk_id}` }), " ", h("span", { class: "rstatus", text: r.status }),
                " ", h("progress", { max: "100", value: String(pct) }), " ",
                r.error ? h("span", { class: "error", text: r.error }) : null);
      if (r.status === "queued" || r.status === "rendering") {
        busy = true;
        const b = document.createElement("button"); b.textContent = "cancel"; b.className = "cancel";
        b.onclick = async () => { await api("POST", `/api/renders/${r.id}/cancel`); pollRenders(); };
        li.append(b);
      }
      if (r.url) {
        const b = document.createElement("button"); b.textContent = "play"; b.className = "play";
        b.onclick = () => { const v = $("#player"); v.hidden = false; v.src = r.url; v.play(); };
        li.append(b);
      }
      ul.append(li);
    }
    if (busy) polling = setTimeout(pollRenders, 500);
  }

  // -- detail page ----------------------------------------------------------------------------
  function imagePage(id) {
    const like = $("#like");
    like.addEventListener("click", async () => {
      const liked = like.getAttribute("aria-pressed") !== "true";
      await api("POST", `/api/images/${id}/like`, { liked });
      like.setAttribute("aria-pressed", String(liked)); like.textContent = liked ? "liked" : "like";
    });
    $("#addtag").addEventListener("click", async () => {
      const t = prompt("tag"); if (!t) return;
      const j = await api("POST", `/api/images/${id}/tags`, { tag: t });
      $("#tags").replaceChildren(...tags(j.tags));
    });
    const send = $("#send");
    if (send) send.addEventListener("click", async () => {
      const j = await api("POST", `/api/images/${id}/recall`, {});
      toast(`sent ${j.sent} message(s) to ${j.to}: preset ${j.preset}` + (j.note ? ` (${j.note})` : ""));
    });
    document.addEventListener("keydown", (e) => {
      if (e.target.tagName === "INPUT") return;
      if (e.key === "l") like.click(); else if (e.key === "t") $("#addtag").click();
    });
  }

  // -- training run page ----------------------------------------------------------------------
  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs = {}, text) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    return el;
  }
  const PLOTS = [["losses", ["loss_G", "loss_D"]], ["D signs", ["signs_real", "signs_fake"]],
                 ["augment p", ["augment_p"]], ["regularisers", ["r1", "pl"]]];
  // One plot: every series over kimg, on shared axes, with its range written on the axis.
  function plot(title, names, curves) {
    const W = 360, H = 170, L = 44, B = 22, T = 18, R = 8;
    const series = names.map((n) => [n, curves[n] || []]).filter(([, pts]) => pts.length);
    const el = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "plot", "data-plot": title, role: "img",
                            "aria-label": title });
    el.append(svg("text", { x: L, y: 13, class: "plot-title" }, title));
    if (!series.length) { el.append(svg("text", { x: L, y: H / 2 }, "no values yet")); return el; }
    const all = series.flatMap(([, p]) => p);
    let [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
    let [y0, y1] = [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
    if (x1 === x0) x1 = x0 + 1;
    if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
    const sx = (x) => L + (x - x0) / (x1 - x0) * (W - L - R), sy = (y) => H - B - (y - y0) / (y1 - y0) * (H - B - T);
    el.append(svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" }),
              svg("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" }),
              svg("text", { x: L - 4, y: T + 4, class: "tick", "text-anchor": "end" }, y1.toPrecision(3)),
              svg("text", { x: L - 4, y: H - B, class: "tick", "text-anchor": "end" }, y0.toPrecision(3)),
              svg("text", { x: L, y: H - 6, class: "tick" }, `${x0.toFixed(1)} kimg`),
              svg("text", { x: W - R, y: H - 6, class: "tick", "text-anchor": "end" }, `${x1.toFixed(1)} kimg`));
    series.forEach(([name, pts], k) => {
      el.append(svg("polyline", { points: pts.map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" "),
                                  class: `series s${k}`, "data-series": name, "data-points": pts.length }));
      el.append(svg("text", { x: W - R - 90 * (series.length - k), y: 13, class: `legend s${k}` }, name));
    });
    return el;
  }
  function trainingPage(id) {
    let snaps = [], shown = -1, polling;
    const scrub = $("#scrub");
    function pick(i) {
      if (!snaps.length) return;
      shown = Math.max(0, Math.min(snaps.length - 1, i));
      const s = snaps[shown];
      $("#fakes").src = s.url; scrub.value = String(shown);
      $("#fakes-caption").textContent = `${s.kimg.toFixed(3)} kimg (snapshot ${shown + 1} of ${snaps.length})`;
      document.querySelectorAll("#strip img").forEach((im, k) => im.classList.toggle("on", k === shown));
    }
    scrub.addEventListener("input", () => pick(Number(scrub.value)));
    async function load() {
      const j = await api("GET", `/api/training/${id}`);
      $("#run-status").textContent = j.status;
      const i = j.info || {};
      $("#run-info").textContent = `${i.cfg || "?"} on ${i.data || "?"}: ${Number(j.kimg).toFixed(3)} of ${i.kimg} kimg, ` +
        `${j.ticks} ticks, batch ${i.batch}, augmentation ${i.aug}`;
      const latest = shown === snaps.length - 1;
      const grew = j.snapshots.length !== snaps.length;
      snaps = j.snapshots;
      scrub.max = String(Math.max(0, snaps.length - 1));
      if (grew) {
        $("#strip").replaceChildren(...snaps.map((s, k) => {
          const im = h("img", { src: s.url, alt: `${s.kimg} kimg`, title: `${s.kimg} kimg`, loading: "lazy" });
          im.addEventListener("click", () => pick(k));
          return im;
        }));
        $("#snaps tbody").replaceChildren(...snaps.map((s) => h("tr", {}, h("td", { text: s.kimg.toFixed(3) }),
          h("td", { class: "path", text: s.network }), h("td", {}, h("code", { text: s.play })))));
      }
      if (grew && (latest || shown < 0)) pick(snaps.length - 1); else pick(shown);
      $("#plots").replaceChildren(...PLOTS.map(([title, names]) => plot(title, names, j.curves)));
      $("#follow").replaceChildren(...(j.follow ? ["Follow the run on stage (crossfades to each new snapshot): ",
                                                    h("code", { text: j.follow })] : []));
      clearTimeout(polling);
      if (j.status === "training") polling = setTimeout(load, 5000);
    }
    load();
  }

  // Each page names itself and its data in <main data-page data-init> (no inline script: the
  // Content-Security-Policy allows only this file).
  document.addEventListener("DOMContentLoaded", () => {
    const main = $("main"), init = main.dataset.init ? JSON.parse(main.dataset.init) : null;
    ({ walks: walksPage, images: imagesPage, image: imagePage, training: trainingPage })[main.dataset.page]?.(init);
  });

  return { walksPage, imagesPage, imagePage, trainingPage, api };
})();
