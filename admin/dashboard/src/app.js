// Skiff dashboard: a single page over the admin REST API (/api/v1). Plain browser JS, no
// framework; xterm.js (bundled) for the terminal. Data is only ever put into the page as
// text nodes, never as HTML. The token comes from the URL fragment (`skiff dashboard`) or
// the login form, and is kept in sessionStorage for this tab only.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = "skiff.token";
  const state = {
    token: "",
    caps: {},
    pods: [],
    containers: [],
    images: [],
    node: null,
    samples: [],
    containerStats: new Map(),
    tab: "overview",
  };

  // ------------------------------------------------------------------------- helpers

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") el.className = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function ageFrom(iso) {
    if (!iso) return "";
    const s = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m";
    if (s < 86400) return Math.floor(s / 3600) + "h" + (Math.floor(s / 60) % 60) + "m";
    return Math.floor(s / 86400) + "d" + (Math.floor(s / 3600) % 24) + "h";
  }

  function bytes(n) {
    if (n === null || n === undefined) return "—";
    const u = ["B", "kB", "MB", "GB", "TB"];
    let i = 0;
    let v = Number(n);
    while (v >= 1000 && i < u.length - 1) {
      v /= 1000;
      i++;
    }
    return (i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)) + " " + u[i];
  }

  const shortId = (id) => (id || "").replace(/^sha256:/, "").slice(0, 12);
  const stateWord = (s) => (s || "").replace(/^(CONTAINER|SANDBOX)_/, "").toLowerCase();

  function stateCell(s) {
    const w = stateWord(s);
    return h("span", { class: "state " + w }, w === "notready" ? "not ready" : w);
  }

  let toastTimer;
  function toast(message, ok) {
    document.querySelectorAll(".toast").forEach((t) => t.remove());
    const t = h("div", { class: "toast" + (ok ? " ok" : ""), role: "status" }, message);
    document.body.append(t);
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => t.remove(), 6000);
  }

  class ApiError extends Error {
    constructor(problem) {
      super(problem.detail || problem.title || "request failed");
      this.problem = problem;
    }
  }

  async function api(path, opts) {
    const res = await fetch("/api/v1" + path, {
      ...opts,
      headers: { authorization: "Bearer " + state.token, ...(opts && opts.headers) },
    });
    if (res.status === 401) {
      showLogin("That token was not accepted.");
      throw new ApiError({ detail: "unauthorized" });
    }
    if (!res.ok) {
      let problem;
      try {
        problem = await res.json();
      } catch {
        problem = { status: res.status, detail: res.statusText };
      }
      throw new ApiError(problem);
    }
    return res;
  }
  const getJson = async (path) => (await api(path)).json();

  /** Reads a streamed response body, calling onText with each decoded chunk. */
  async function readStream(res, onText, signal) {
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    const stop = () => reader.cancel().catch(() => {});
    if (signal) signal.addEventListener("abort", stop, { once: true });
    try {
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        onText(dec.decode(r.value, { stream: true }));
      }
    } catch (err) {
      if (!signal || !signal.aborted) throw err;
    } finally {
      if (signal) signal.removeEventListener("abort", stop);
      // Chromium counts a body whose reader is never released as an aborted request.
      reader.releaseLock();
    }
  }

  /** Server-Sent Events over fetch (EventSource cannot send the Authorization header). */
  async function readSse(res, onEvent, signal) {
    let buf = "";
    await readStream(res, (text) => {
      buf += text;
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let event = "message";
        let data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        if (data) onEvent(event, JSON.parse(data));
      }
    }, signal);
  }

  // ---------------------------------------------------------------------------- login

  function showLogin(message) {
    $("login").classList.remove("hidden");
    $("main").classList.add("hidden");
    $("tabs").classList.add("hidden");
    $("login-error").textContent = message || "";
  }

  function takeTokenFromUrl() {
    const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (m) {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
      // The token must not stay in the address bar (history, screenshots, shoulder surfing).
      history.replaceState(null, "", location.pathname);
    }
    return sessionStorage.getItem(TOKEN_KEY) || "";
  }

  // A `skiff dashboard` link pasted into an already open tab only changes the fragment.
  globalThis.addEventListener("hashchange", () => {
    if (/(?:^#|&)token=/.test(location.hash)) {
      takeTokenFromUrl();
      location.reload();
    }
  });

  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("login-token").value.trim());
    location.reload();
  });

  // ----------------------------------------------------------------------------- tabs

  function showTab(tab) {
    state.tab = tab;
    for (const b of document.querySelectorAll("#tabs button")) {
      b.classList.toggle("active", b.dataset.tab === tab);
    }
    for (const v of document.querySelectorAll(".view")) {
      v.classList.toggle("hidden", v.id !== "view-" + tab);
    }
    if (tab === "terminal") terminal.fit();
    if (tab === "overview") drawCharts();
  }
  for (const b of document.querySelectorAll("#tabs button")) {
    b.addEventListener("click", () => showTab(b.dataset.tab));
  }

  // ------------------------------------------------------------------------ node/overview

  function card(label, value, sub) {
    return h(
      "div",
      { class: "card" },
      h("div", { class: "label" }, label),
      h("div", {
        class: "value",
      }, value),
      h("div", { class: "sub" }, sub || ""),
    );
  }

  async function loadNode() {
    const n = await getJson("/node");
    state.node = n;
    state.caps = n.capabilities || {};
    $("node-name").textContent = n.hostname + " · " + n.kernel;
    $("version").textContent = n.version
      ? n.version.runtime_name + " " + n.version.runtime_version + " · CRI " +
        n.version.runtime_api_version
      : "";
    $("conditions").replaceChildren(
      ...n.conditions.map((c) =>
        h("span", {
          class: "pill " + (c.status ? "ok" : "bad"),
          title: c.status ? "" : (c.reason + ": " + c.message),
        }, (c.status ? "✓ " : "✗ ") + c.type)
      ),
    );
    const c = n.counts;
    const mem = n.host;
    $("cards").replaceChildren(
      card(
        "Pods",
        c.pods ? String(c.pods.active) : "—",
        c.pods ? "ready of " + c.pods.total : "not available yet",
      ),
      card(
        "Containers",
        c.containers ? String(c.containers.active) : "—",
        c.containers ? "running of " + c.containers.total : "not available yet",
      ),
      card(
        "Images",
        c.images === null ? "—" : String(c.images),
        n.disk.images_bytes === null ? "not available yet" : bytes(n.disk.images_bytes),
      ),
      card(
        "Disk",
        n.disk.images_bytes === null && n.disk.containers_writable_bytes === null
          ? "—"
          : bytes((n.disk.images_bytes || 0) + (n.disk.containers_writable_bytes || 0)),
        "images " + bytes(n.disk.images_bytes) + " · containers " +
          bytes(n.disk.containers_writable_bytes),
      ),
      card(
        "Memory",
        bytes(mem.memoryTotalBytes - mem.memoryAvailableBytes),
        "used of " + bytes(mem.memoryTotalBytes),
      ),
      card("Load", mem.load.map((x) => x.toFixed(2)).join("  "), mem.cpus + " CPUs"),
    );
    const missing = Object.keys(n.unavailable || {});
    $("unavailable").textContent = missing.length
      ? "Not available from this Skiff yet: " + missing.join(", ") + "."
      : "";
  }

  async function sampleHost() {
    const s = await getJson("/node/stats");
    state.samples.push(s.host);
    if (state.samples.length > 90) state.samples.shift();
    state.containerStats = new Map(
      (s.containers || []).map((c) => [c.attributes && c.attributes.id, c]),
    );
    // Only the usage cells change: rows stay put under the pointer and the selection.
    for (const row of $("table-containers").tBodies[0].rows) {
      for (const cell of row.querySelectorAll("td[data-usage]")) {
        cell.textContent = usage(row.dataset.id, cell.dataset.usage);
      }
    }
    const last = s.host;
    $("cpu-now").textContent = last.cpuBusy === null
      ? ""
      : (last.cpuBusy * 100).toFixed(1) + "% of " + last.cpus + " CPUs";
    $("mem-now").textContent = bytes(last.memoryTotalBytes - last.memoryAvailableBytes) +
      " of " + bytes(last.memoryTotalBytes);
    if (state.tab === "overview") drawCharts();
  }

  function drawChart(canvas, values, color) {
    const dpr = globalThis.devicePixelRatio || 1;
    const w = canvas.clientWidth;
    const hgt = canvas.clientHeight;
    if (!w || !hgt) return;
    canvas.width = w * dpr;
    canvas.height = hgt * dpr;
    const g = canvas.getContext("2d");
    g.scale(dpr, dpr);
    g.clearRect(0, 0, w, hgt);
    g.strokeStyle = "#2a3440";
    g.lineWidth = 1;
    for (let i = 1; i < 4; i++) {
      const y = Math.round((hgt * i) / 4) + 0.5;
      g.beginPath();
      g.moveTo(0, y);
      g.lineTo(w, y);
      g.stroke();
    }
    const pts = values.filter((v) => v !== null);
    if (pts.length < 2) return;
    const step = w / 89;
    const x0 = w - (values.length - 1) * step;
    g.beginPath();
    values.forEach((v, i) => {
      if (v === null) return;
      const x = x0 + i * step;
      const y = hgt - Math.max(0, Math.min(1, v)) * (hgt - 4) - 2;
      if (i === 0 || values[i - 1] === null) g.moveTo(x, y);
      else g.lineTo(x, y);
    });
    g.strokeStyle = color;
    g.lineWidth = 2;
    g.stroke();
    g.lineTo(w, hgt);
    g.lineTo(x0, hgt);
    g.closePath();
    g.globalAlpha = 0.15;
    g.fillStyle = color;
    g.fill();
    g.globalAlpha = 1;
  }

  function drawCharts() {
    drawChart($("chart-cpu"), state.samples.map((s) => s.cpuBusy), "#4fb3ff");
    drawChart(
      $("chart-mem"),
      state.samples.map((s) => 1 - s.memoryAvailableBytes / s.memoryTotalBytes),
      "#3fcf8e",
    );
  }
  globalThis.addEventListener("resize", () => {
    drawCharts();
    terminal.fit();
  });

  // ----------------------------------------------------------------------------- pods

  async function loadPods() {
    if (!state.caps.ListPodSandbox) return;
    state.pods = (await getJson("/pods")).items;
    $("count-pods").textContent = String(state.pods.length);
    renderPods();
  }

  function renderPods() {
    const q = $("filter-pods").value.trim().toLowerCase();
    const pods = state.pods.filter((p) =>
      !q || (p.name + " " + p.namespace).toLowerCase().includes(q)
    );
    const counts = {};
    for (const c of state.containers) {
      counts[c.pod_sandbox_id] = (counts[c.pod_sandbox_id] || 0) + 1;
    }
    $("table-pods").tBodies[0].replaceChildren(...pods.map((p) =>
      h(
        "tr",
        { "data-id": p.id },
        h("td", {}, p.name),
        h("td", { class: "muted" }, p.namespace),
        h("td", {}, stateCell(p.state)),
        h("td", { class: "mono" }, p.ips.join(", ") || (p.host_network ? "host network" : "—")),
        h("td", { class: "num" }, String(counts[p.id] || 0)),
        h("td", { title: p.created }, ageFrom(p.created)),
        h("td", { class: "mono muted" }, shortId(p.id)),
        h(
          "td",
          { class: "actions" },
          h("button", {
            class: "small secondary",
            onclick: () => inspect("pods", "/pods/" + p.id),
          }, "Inspect"),
          state.caps.StopPodSandbox && p.state === "SANDBOX_READY" &&
            h("button", {
              class: "small secondary",
              onclick: () => act("Stop pod " + p.name, "/pods/" + p.id + "/stop", "POST"),
            }, "Stop"),
          state.caps.RemovePodSandbox &&
            h("button", {
              class: "small danger",
              onclick: () => act("Remove pod " + p.name, "/pods/" + p.id + "?force=1", "DELETE"),
            }, "Remove"),
        ),
      )
    ));
    emptyNote("pods", pods.length, state.caps.ListPodSandbox, "No pods on this node.");
  }
  $("filter-pods").addEventListener("input", renderPods);

  function emptyNote(kind, n, capable, text) {
    const el = $("empty-" + kind);
    el.classList.toggle("hidden", n > 0);
    el.textContent = capable ? text : "This Skiff does not serve " + kind + " yet.";
  }

  async function inspect(kind, path) {
    const pre = $("detail-" + kind);
    try {
      pre.textContent = JSON.stringify(await getJson(path), null, 2);
      pre.classList.remove("hidden");
    } catch (err) {
      toast(err.message);
    }
  }

  async function act(what, path, method) {
    if (!confirm(what + "?")) return;
    try {
      await api(path, { method });
      toast(what + ": done", true);
      refreshSoon();
    } catch (err) {
      toast(what + ": " + err.message);
    }
  }

  // ------------------------------------------------------------------------ containers

  async function loadContainers() {
    if (!state.caps.ListContainers) return;
    state.containers = (await getJson("/containers")).containers;
    $("count-containers").textContent = String(
      state.containers.filter((c) => c.state === "CONTAINER_RUNNING").length,
    );
    renderContainers();
    fillContainerSelects();
  }

  /** CPU (cores, from usage_nano_cores) or memory (working set) of a container's last sample. */
  function usage(id, what) {
    const st = state.containerStats.get(id);
    if (!st) return "—";
    if (what === "cpu") {
      const n = st.cpu && st.cpu.usage_nano_cores;
      return n ? (Number(n.value) / 1e9).toFixed(3) : "—";
    }
    const m = st.memory && st.memory.working_set_bytes;
    return m ? bytes(m.value) : "—";
  }

  function renderContainers() {
    const q = $("filter-containers").value.trim().toLowerCase();
    const all = $("containers-all").checked;
    const list = state.containers.filter((c) =>
      (all || c.state !== "CONTAINER_EXITED") &&
      (!q || (c.name + " " + c.pod_name + " " + c.image_name).toLowerCase().includes(q))
    );
    $("table-containers").tBodies[0].replaceChildren(...list.map((c) =>
      h(
        "tr",
        { "data-id": c.id },
        h("td", {}, c.name),
        h(
          "td",
          { class: "muted" },
          c.pod_namespace ? c.pod_namespace + "/" + c.pod_name : c.pod_name,
        ),
        h("td", { class: "mono" }, c.image_name),
        h("td", {}, stateCell(c.state)),
        h("td", { class: "num" }, String(c.restart_count)),
        h("td", { class: "mono" }, c.ips.join(", ") || (c.host_network ? "host network" : "—")),
        h("td", { class: "num", "data-usage": "cpu" }, usage(c.id, "cpu")),
        h("td", { class: "num", "data-usage": "mem" }, usage(c.id, "mem")),
        h("td", { title: c.created }, ageFrom(c.created)),
        h(
          "td",
          { class: "actions" },
          h("button", { class: "small secondary", onclick: () => openLogs(c.id) }, "Logs"),
          c.state === "CONTAINER_RUNNING" && (state.caps.Exec || state.caps.ExecSync) &&
            h("button", { class: "small secondary", onclick: () => openTerminal(c.id) }, "Shell"),
          h("button", {
            class: "small secondary",
            onclick: () => inspect("containers", "/containers/" + c.id),
          }, "Inspect"),
          state.caps.StopContainer && c.state === "CONTAINER_RUNNING" &&
            h("button", {
              class: "small secondary",
              onclick: () =>
                act("Stop container " + c.name, "/containers/" + c.id + "/stop", "POST"),
            }, "Stop"),
          state.caps.RemoveContainer &&
            h("button", {
              class: "small danger",
              onclick: () =>
                act("Remove container " + c.name, "/containers/" + c.id + "?force=1", "DELETE"),
            }, "Remove"),
        ),
      )
    ));
    emptyNote("containers", list.length, state.caps.ListContainers, "No containers.");
  }
  $("filter-containers").addEventListener("input", renderContainers);
  $("containers-all").addEventListener("change", renderContainers);

  function fillContainerSelects() {
    for (const id of ["logs-container", "term-container"]) {
      const sel = $(id);
      const keep = sel.value;
      const list = id === "term-container"
        ? state.containers.filter((c) => c.state === "CONTAINER_RUNNING")
        : state.containers;
      sel.replaceChildren(
        ...list.map((c) =>
          h(
            "option",
            { value: c.id },
            c.name + " (" + (c.pod_name || shortId(c.pod_sandbox_id)) + ")",
          )
        ),
      );
      if (list.some((c) => c.id === keep)) sel.value = keep;
    }
  }

  // ---------------------------------------------------------------------------- images

  async function loadImages() {
    if (!state.caps.ListImages) {
      emptyNote("images", 0, false, "");
      return;
    }
    const res = await getJson("/images");
    state.images = res.images;
    $("count-images").textContent = String(state.images.length);
    const rows = [];
    for (const i of state.images) {
      const tags = i.repo_tags.length ? i.repo_tags : ["<none>:<none>"];
      for (const t of tags) {
        const slash = t.lastIndexOf("/");
        const colon = t.lastIndexOf(":");
        const [repo, tag] = colon > slash ? [t.slice(0, colon), t.slice(colon + 1)] : [t, "<none>"];
        rows.push(h(
          "tr",
          {},
          h("td", {}, repo),
          h("td", { class: "mono" }, tag),
          h("td", { class: "mono muted", title: i.id }, shortId(i.id)),
          h("td", { class: "num" }, bytes(i.size_bytes)),
          h(
            "td",
            { class: "actions" },
            state.caps.RemoveImage &&
              h("button", {
                class: "small danger",
                onclick: () =>
                  act("Remove image " + t, "/images/" + encodeURIComponent(t), "DELETE"),
              }, "Remove"),
          ),
        ));
      }
    }
    $("table-images").tBodies[0].replaceChildren(...rows);
    $("images-total").textContent = state.images.length
      ? state.images.length + " images, " + bytes(res.total_bytes)
      : "";
    emptyNote("images", rows.length, true, "No images yet: pull one above.");
  }

  $("pull-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const image = $("pull-image").value.trim();
    if (!image) return;
    $("pull-image").value = "";
    const bar = h("div", { class: "bar indeterminate" }, h("div", {}));
    const status = h("span", { class: "muted" }, "starting…");
    const layers = h("div", {});
    const box = h(
      "div",
      { class: "pull" },
      h("div", { class: "title" }, h("span", {}, image), status),
      bar,
      layers,
    );
    $("pulls").prepend(box);
    const layerBars = new Map();
    try {
      const res = await api("/images/pull", {
        method: "POST",
        headers: { accept: "text/event-stream", "content-type": "application/json" },
        body: JSON.stringify({ image }),
      });
      await readSse(res, (event, d) => {
        if (event === "status") {
          status.textContent = "pulling · " + (d.elapsed_ms / 1000).toFixed(0) + "s";
        }
        if (event === "progress") {
          let row = layerBars.get(d.digest);
          if (!row) {
            const fill = h("div", {});
            row = { text: h("div", { class: "layer" }), fill };
            layers.append(row.text, h("div", { class: "bar" }, fill));
            layerBars.set(d.digest, row);
          }
          row.text.textContent = shortId(d.digest) + " " + d.phase + " " + bytes(d.bytesDone) +
            (d.bytesTotal ? " / " + bytes(d.bytesTotal) : "");
          row.fill.style.width = d.bytesTotal
            ? (100 * d.bytesDone / d.bytesTotal).toFixed(1) + "%"
            : "0";
        }
        if (event === "done") {
          box.classList.add("done");
          bar.classList.remove("indeterminate");
          status.textContent = "done in " + (d.elapsed_ms / 1000).toFixed(1) + "s" +
            (d.size_bytes ? " · " + bytes(d.size_bytes) : "") + " · " + shortId(d.image_ref);
          refreshSoon();
        }
        if (event === "error") throw new ApiError(d);
      });
    } catch (err) {
      box.classList.add("failed");
      bar.classList.remove("indeterminate");
      status.textContent = "failed: " + err.message;
    }
  });

  // ------------------------------------------------------------------------------- logs

  let logsAbort = null;

  function openLogs(id) {
    showTab("logs");
    $("logs-container").value = id;
    startLogs();
  }

  async function startLogs() {
    stopLogs();
    const id = $("logs-container").value;
    if (!id) return;
    const view = $("logview");
    view.replaceChildren();
    const ac = new AbortController();
    logsAbort = ac;
    const follow = $("logs-follow").checked;
    const params = new URLSearchParams({ tail: $("logs-tail").value || "200", format: "json" });
    if (follow) params.set("follow", "1");
    $("logs-status").textContent = follow ? "following…" : "loading…";
    let buf = "";
    try {
      const res = await api("/containers/" + id + "/logs?" + params, { signal: ac.signal });
      await readStream(res, (text) => {
        buf += text;
        const lines = buf.split("\n");
        buf = lines.pop();
        const atBottom = view.scrollTop + view.clientHeight >= view.scrollHeight - 30;
        for (const l of lines) {
          if (!l) continue;
          const e = JSON.parse(l);
          if (e.error) {
            view.append(h("span", { class: "stderr" }, "[" + e.error.detail + "]\n"));
            continue;
          }
          const ts = $("logs-timestamps").checked ? e.time + " " : "";
          view.append(h("span", { class: e.stream }, ts + e.log + (e.partial ? "" : "\n")));
        }
        while (view.childNodes.length > 5000) view.firstChild.remove();
        if (atBottom) view.scrollTop = view.scrollHeight;
      }, ac.signal);
      if (!ac.signal.aborted) $("logs-status").textContent = "end of log";
    } catch (err) {
      if (!ac.signal.aborted) $("logs-status").textContent = err.message;
    }
  }

  function stopLogs() {
    if (logsAbort) logsAbort.abort();
    logsAbort = null;
    $("logs-status").textContent = "";
  }
  $("logs-start").addEventListener("click", startLogs);
  $("logs-stop").addEventListener("click", stopLogs);

  // --------------------------------------------------------------------------- terminal

  const terminal = (() => {
    let term = null;
    let fitAddon = null;
    let session = null;

    function ensure() {
      if (term) return term;
      term = new globalThis.Terminal({
        cursorBlink: true,
        fontFamily: "ui-monospace, DejaVu Sans Mono, Menlo, monospace",
        fontSize: 13,
        theme: { background: "#000000" },
        convertEol: false,
      });
      fitAddon = new globalThis.FitAddon.FitAddon();
      term.loadAddon(fitAddon);
      term.open($("terminal"));
      term.onData((d) => session && session.input(d));
      term.onResize((s) => session && session.resize(s.cols, s.rows));
      fit();
      return term;
    }

    function fit() {
      if (term && fitAddon && state.tab === "terminal") {
        try {
          fitAddon.fit();
        } catch {
          // not visible yet
        }
      }
    }

    const enc = new TextEncoder();
    const frame = (ch, bytesOrText) => {
      const b = typeof bytesOrText === "string" ? enc.encode(bytesOrText) : bytesOrText;
      const f = new Uint8Array(b.length + 1);
      f[0] = ch;
      f.set(b, 1);
      return f;
    };

    /** Interactive: WebSocket v5.channel.k8s.io through the admin API. */
    function wsSession(id, command) {
      const b64 = btoa(state.token).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
      const q = new URLSearchParams({ tty: "1", stdin: "1" });
      for (const part of command) q.append("command", part);
      const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host +
        "/api/v1/containers/" + encodeURIComponent(id) + "/exec?" + q;
      const ws = new WebSocket(url, [
        "v5.channel.k8s.io",
        "v4.channel.k8s.io",
        "base64url.bearer.authorization.k8s.io." + b64,
      ]);
      ws.binaryType = "arraybuffer";
      const dec = new TextDecoder();
      ws.onopen = () => {
        $("term-status").textContent = "connected (" + ws.protocol + ")";
        ws.send(frame(4, JSON.stringify({ Width: term.cols, Height: term.rows })));
        term.focus();
      };
      ws.onmessage = (m) => {
        const d = new Uint8Array(m.data);
        if (d[0] === 1 || d[0] === 2) term.write(d.subarray(1));
        if (d[0] === 3) {
          const text = dec.decode(d.subarray(1));
          try {
            const st = JSON.parse(text);
            if (st.status !== "Success") term.write("\r\n[" + (st.message || st.reason) + "]\r\n");
          } catch {
            term.write("\r\n[" + text + "]\r\n");
          }
        }
      };
      ws.onclose = () => {
        $("term-status").textContent = "disconnected";
        term.write("\r\n[session closed]\r\n");
        session = null;
      };
      return {
        input: (d) => ws.readyState === 1 && ws.send(frame(0, d)),
        resize: (w, hh) =>
          ws.readyState === 1 && ws.send(frame(4, JSON.stringify({ Width: w, Height: hh }))),
        close: () => ws.close(),
      };
    }

    /**
     * Line mode, for a Skiff without the streaming Exec: each line runs as
     * `sh -c LINE` through ExecSync; local line editing only.
     */
    function lineSession(id) {
      let line = "";
      let busy = false;
      const prompt = () => term.write("\x1b[1;32m$\x1b[0m ");
      $("term-status").textContent = "line mode (ExecSync)";
      term.write("[line mode: each line runs with sh -c]\r\n");
      prompt();
      term.focus();
      return {
        input: async (d) => {
          if (busy) return;
          for (const ch of d) {
            if (ch === "\r") {
              term.write("\r\n");
              const cmd = line;
              line = "";
              if (!cmd.trim()) {
                prompt();
                continue;
              }
              busy = true;
              try {
                const res = await api("/containers/" + encodeURIComponent(id) + "/exec_sync", {
                  method: "POST",
                  headers: { "content-type": "application/json" },
                  body: JSON.stringify({ cmd: ["sh", "-c", cmd], timeout_seconds: 30 }),
                });
                const r = await res.json();
                const out = (r.stdout + r.stderr).replace(/\r?\n/g, "\r\n");
                term.write(out);
                if (r.exit_code !== 0) term.write("[exit " + r.exit_code + "]\r\n");
              } catch (err) {
                term.write("[" + err.message + "]\r\n");
              }
              busy = false;
              prompt();
            } else if (ch === "\x7f") {
              if (line) {
                line = line.slice(0, -1);
                term.write("\b \b");
              }
            } else if (ch >= " ") {
              line += ch;
              term.write(ch);
            }
          }
        },
        resize: () => {},
        close: () => {},
      };
    }

    function connect() {
      disconnect();
      const id = $("term-container").value;
      if (!id) {
        $("term-status").textContent = "no running container";
        return;
      }
      ensure();
      term.reset();
      const command = $("term-command").value.trim().split(/\s+/).filter(Boolean);
      if (state.caps.Exec) session = wsSession(id, command.length ? command : ["sh"]);
      else if (state.caps.ExecSync) session = lineSession(id);
      else $("term-status").textContent = "this Skiff does not serve exec yet";
    }

    function disconnect() {
      if (session) session.close();
      session = null;
    }

    return { connect, disconnect, fit };
  })();

  function openTerminal(id) {
    showTab("terminal");
    $("term-container").value = id;
    terminal.connect();
  }
  $("term-connect").addEventListener("click", () => terminal.connect());
  $("term-disconnect").addEventListener("click", () => terminal.disconnect());

  // ------------------------------------------------------------------- refresh and events

  let refreshTimer = null;
  function refreshSoon() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refreshAll, 250);
  }

  async function refreshAll() {
    const containersThenPods = async () => {
      try {
        await loadContainers();
      } finally {
        await loadPods();
      }
    };
    const jobs = [loadNode(), containersThenPods(), loadImages()];
    const results = await Promise.allSettled(jobs);
    for (const r of results) {
      if (
        r.status === "rejected" &&
        !(r.reason instanceof ApiError && r.reason.message === "unauthorized")
      ) {
        toast(r.reason.message);
      }
    }
  }

  async function followEvents() {
    const live = $("live");
    if (!state.caps.GetContainerEvents) {
      live.textContent = "○ polling";
      live.title = "this Skiff has no event stream yet; refreshing every 5 s";
      setInterval(refreshAll, 5000);
      return;
    }
    for (;;) {
      try {
        const res = await api("/events", { headers: { accept: "text/event-stream" } });
        live.textContent = "● live";
        live.classList.add("on");
        await readSse(res, (event) => {
          if (event === "container") refreshSoon();
        });
      } catch {
        // reconnect below
      }
      live.textContent = "○ reconnecting";
      live.classList.remove("on");
      await new Promise((r) => setTimeout(r, 2000));
    }
  }

  async function start() {
    state.token = takeTokenFromUrl();
    if (!state.token) {
      showLogin("");
      return;
    }
    try {
      await loadNode();
    } catch (err) {
      if (err.message !== "unauthorized") showLogin(err.message);
      return;
    }
    await refreshAll();
    await sampleHost().catch(() => {});
    setInterval(() => sampleHost().catch(() => {}), 2000);
    // Pods do not emit container events: refresh them (and the summary) now and then.
    setInterval(() => {
      loadNode().catch(() => {});
      loadPods().catch(() => {});
    }, 10000);
    followEvents();
    document.body.dataset.ready = "1";
  }

  start();
})();
