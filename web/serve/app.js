// The review page of `dcacn serve`: reads /api/state, /api/cluster and /api/image, and sends
// every change as one POST /api/edit. No framework, no build step, nothing fetched from outside.
"use strict";

const PER_PAGE = 60;
const view = { state: null, cluster: null, page: 0, pages: 1, selected: new Set(), ticked: new Set() };
const $ = (id) => document.getElementById(id);

function say(text, kind) {
  const s = $("status");
  s.textContent = text;
  s.className = kind || "";
}

async function getJson(url) {
  const res = await fetch(url, { cache: "no-store" });
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

async function edit(change, done) {
  try {
    const res = await fetch("/api/edit", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(change),
    });
    const body = await res.json();
    if (!res.ok) {
      say("Refused: " + body.error, "error");
      await refresh();
      return false;
    }
    await refresh();
    say(done + " (edit " + body.edit.id + ")", "ok");
    return true;
  } catch (e) {
    say("The server did not answer: " + e.message, "error");
    return false;
  }
}

function clusterName(id) {
  const c = view.state.clusters.find((x) => x.id === id);
  return c ? c.name : "cluster " + id;
}

function className(label) {
  const names = view.state.class_names || [];
  return label < names.length ? names[label] : String(label);
}

function renderClusters() {
  const list = $("clusters");
  list.replaceChildren();
  for (const c of view.state.clusters) {
    const li = document.createElement("li");
    li.dataset.id = c.id;
    if (c.id === view.cluster) li.classList.add("current");
    const tick = document.createElement("input");
    tick.type = "checkbox";
    tick.className = "tick";
    tick.checked = view.ticked.has(c.id);
    tick.title = "tick to merge into the cluster on show";
    tick.addEventListener("click", (e) => {
      e.stopPropagation();
      if (tick.checked) view.ticked.add(c.id); else view.ticked.delete(c.id);
    });
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = c.name;
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = c.size + (c.purity !== undefined ? " · " + Math.round(100 * c.purity) + "%" : "");
    if (c.purity !== undefined) meta.title = "purity against the labels; majority: " + className(c.majority_label);
    li.append(tick, name, meta);
    li.addEventListener("click", () => showCluster(c.id, 0));
    list.append(li);
  }
  const target = $("move-target");
  const previous = target.value;
  target.replaceChildren();
  for (const c of view.state.clusters) {
    const o = document.createElement("option");
    o.value = c.id;
    o.textContent = c.id + ": " + c.name;
    target.append(o);
  }
  if ([...target.options].some((o) => o.value === previous)) target.value = previous;
}

async function showCluster(id, page) {
  if (id !== view.cluster) view.selected.clear();
  view.cluster = id;
  try {
    const data = await getJson(`/api/cluster?id=${id}&page=${page}&per=${PER_PAGE}`);
    view.page = data.page;
    view.pages = data.pages;
    $("rename-input").value = data.name;
    $("page-info").textContent = `${data.name}: ${data.size} images, page ${data.page + 1} of ${data.pages}`;
    const grid = $("grid");
    grid.replaceChildren();
    for (const im of data.images) {
      const cell = document.createElement("div");
      cell.className = "thumb";
      cell.dataset.index = im.index;
      if (view.selected.has(im.index)) cell.classList.add("selected");
      const img = document.createElement("img");
      img.loading = "lazy";
      img.src = "/thumb?index=" + im.index;
      img.alt = "image " + im.index;
      const conf = document.createElement("span");
      conf.className = "conf";
      conf.textContent = im.confidence.toFixed(2);
      cell.title = "image " + im.index + (im.label !== undefined ? ", label " + className(im.label) : "");
      cell.append(img, conf);
      cell.addEventListener("click", () => {
        if (view.selected.has(im.index)) view.selected.delete(im.index); else view.selected.add(im.index);
        cell.classList.toggle("selected");
        updateSelection();
        showImage(im.index);
      });
      grid.append(cell);
    }
    renderClusters();
    updateSelection();
    // For scripts that drive the page: which cluster is on show, and a count of renders.
    document.body.dataset.cluster = id;
    document.body.dataset.renders = Number(document.body.dataset.renders || 0) + 1;
  } catch (e) {
    say(e.message, "error");
  }
}

function updateSelection() {
  $("selection-info").textContent = view.selected.size ? view.selected.size + " selected" : "";
}

async function showImage(index) {
  try {
    const d = await getJson(`/api/image?index=${index}&neighbours=12`);
    const box = $("detail");
    box.replaceChildren();
    const img = document.createElement("img");
    img.className = "big";
    img.src = "/thumb?index=" + index;
    const head = document.createElement("p");
    head.textContent = `image ${index} in ${clusterName(d.cluster)}` +
        (d.label !== undefined ? `, label ${className(d.label)}` : "");
    box.append(img, head);
    if (d.path) {
      const p = document.createElement("p");
      p.className = "hint";
      p.textContent = d.path;
      box.append(p);
    }
    const probs = d.probabilities.map((p, k) => [p, k]).sort((a, b) => b[0] - a[0]).slice(0, 5);
    const h = document.createElement("h3");
    h.textContent = "The model's clusters";
    box.append(h);
    for (const [p, k] of probs) {
      const bar = document.createElement("div");
      bar.className = "bar";
      const fill = document.createElement("span");
      fill.className = "fill";
      fill.style.width = Math.round(120 * p) + "px";
      bar.append(fill, document.createTextNode(`${(100 * p).toFixed(1)}% model cluster ${k}`));
      box.append(bar);
    }
    const hn = document.createElement("h3");
    hn.textContent = "Nearest in the learned features";
    const grid = document.createElement("div");
    grid.className = "neighbours";
    for (const n of d.neighbours) {
      const im = document.createElement("img");
      im.src = "/thumb?index=" + n.index;
      im.title = `image ${n.index}, ${clusterName(n.cluster)}, similarity ${n.similarity.toFixed(3)}`;
      im.addEventListener("click", () => showImage(n.index));
      grid.append(im);
    }
    box.append(hn, grid);
  } catch (e) {
    say(e.message, "error");
  }
}

async function refresh() {
  view.state = await getJson("/api/state");
  $("title").textContent = view.state.title;
  $("summary").textContent = `${view.state.images} images, ${view.state.clusters.length} clusters, ` +
      `${view.state.version} edits recorded`;
  for (const id of [...view.ticked]) {
    if (!view.state.clusters.some((c) => c.id === id)) view.ticked.delete(id);
  }
  const ids = view.state.clusters.map((c) => c.id);
  const show = ids.includes(view.cluster) ? view.cluster : ids[0];
  const page = show === view.cluster ? Math.min(view.page, view.pages - 1) : 0;
  await showCluster(show, page);
}

function setUp() {
  $("rename-btn").addEventListener("click", () => {
    const name = $("rename-input").value.trim();
    if (!name) return say("Give the cluster a name first", "error");
    edit({ op: "rename", cluster: view.cluster, name }, `Renamed cluster ${view.cluster} to "${name}"`);
  });
  $("merge-btn").addEventListener("click", () => {
    const from = [...view.ticked].filter((id) => id !== view.cluster);
    if (!from.length) return say("Tick the clusters to merge into this one first", "error");
    view.ticked.clear();
    edit({ op: "merge", clusters: from, into: view.cluster },
         `Merged ${from.join(", ")} into ${view.cluster}`);
  });
  $("split-btn").addEventListener("click", () => {
    const k = parseInt($("split-k").value, 10);
    edit({ op: "split", cluster: view.cluster, k }, `Split cluster ${view.cluster} into ${k}`);
  });
  $("move-btn").addEventListener("click", async () => {
    const to = parseInt($("move-target").value, 10);
    const images = [...view.selected];
    if (!images.length) return say("Select images first (click them)", "error");
    if (await edit({ op: "move", images, to }, `Moved ${images.length} images to ${to}`)) {
      view.selected.clear();
      updateSelection();
    }
  });
  $("clear-btn").addEventListener("click", () => {
    view.selected.clear();
    for (const el of document.querySelectorAll(".thumb.selected")) el.classList.remove("selected");
    updateSelection();
  });
  $("undo-btn").addEventListener("click", () => {
    // The latest edit this page saw: the server refuses if someone else's came since.
    edit({ op: "undo", expected: view.state.latest_edit }, "Undone");
  });
  $("prev-btn").addEventListener("click", () => {
    if (view.page > 0) showCluster(view.cluster, view.page - 1);
  });
  $("next-btn").addEventListener("click", () => {
    if (view.page + 1 < view.pages) showCluster(view.cluster, view.page + 1);
  });
  $("figures-btn").addEventListener("click", () => {
    const f = $("figures");
    f.hidden = !f.hidden;
    if (!f.hidden && !f.childElementCount) {
      if (!view.state.figures.length) f.textContent = "This run has no report (dcacn report RUN makes one).";
      for (const name of view.state.figures) {
        const fig = document.createElement("figure");
        const img = document.createElement("img");
        img.src = "/figure?name=" + encodeURIComponent(name);
        const cap = document.createElement("figcaption");
        cap.textContent = name;
        fig.append(img, cap);
        f.append(fig);
      }
    }
  });
  refresh().catch((e) => say(e.message, "error"));
}

setUp();
