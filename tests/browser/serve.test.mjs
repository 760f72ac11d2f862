// Drives the review page of `dcacn serve` in Debian's headless Chromium: rename, merge, split,
// move, undo, move again, export through the page's link, and checks the exported CSV against
// what it did. Usage: node serve.test.mjs URL OUT_DIR (run by scripts/browser-test.sh).
import fs from "node:fs";
import path from "node:path";
import puppeteer from "puppeteer-core";

const [url, outDir] = process.argv.slice(2);
if (!url || !outDir) {
  console.error("usage: node serve.test.mjs URL OUT_DIR");
  process.exit(2);
}
const base = url.replace(/\/$/, "");
const t0 = Date.now();
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(2)} s]`, ...a);
let failures = 0;
function check(ok, what) {
  log(ok ? "ok  " : "FAIL", what);
  if (!ok) failures++;
}

async function api(p) {
  const res = await fetch(base + p);
  if (!res.ok) throw new Error(`${p}: ${res.status}`);
  return p.endsWith(".csv") ? res.text() : res.json();
}

// index -> {cluster, name} of an export.
function parseCsv(text) {
  const lines = text.trim().split("\n");
  const header = lines[0].split(",");
  const col = (n) => header.indexOf(n);
  const out = new Map();
  for (const line of lines.slice(1)) {
    // Names may be quoted; the name is the last column, cluster the one before it.
    const m = line.match(/^(\d+),(?:.*?,)?(\d+),("(?:[^"]|"")*"|[^,]*)$/);
    if (!m) throw new Error("unexpected CSV line: " + line);
    out.set(Number(m[1]), { cluster: Number(m[2]), name: m[3].replace(/^"|"$/g, "").replace(/""/g, '"') });
  }
  if (col("cluster") < 0 || col("name") < 0) throw new Error("CSV header without cluster,name: " + lines[0]);
  return out;
}

const before = parseCsv(await api("/api/export.csv"));
const state0 = await api("/api/state");
const K = state0.clusters.length;
// The four largest clusters: A is renamed, C merged into B, B split, two images of D moved to A.
const [A, B, C, D] = [...state0.clusters].sort((x, y) => y.size - x.size).map((c) => c.id);
log(`page of ${state0.images} images, ${K} clusters; A=${A} B=${B} C=${C} D=${D}`);

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu"],
});
const page = await browser.newPage();
await page.setViewport({ width: 1400, height: 900 });
const pageErrors = [];
const outside = [];
page.on("pageerror", (e) => pageErrors.push(String(e)));
let refusalExpected = false;  // the deliberate refused edit's failed request is not an error
page.on("console", (m) => {
  if (m.type() !== "error") return;
  if (refusalExpected && m.text().includes("status of 400")) return;
  pageErrors.push(m.text());
});
await page.setRequestInterception(true);
page.on("request", (r) => {
  if (r.url().startsWith(base)) return r.continue();
  outside.push(r.url());
  return r.abort();
});

const status = () => page.$eval("#status", (e) => e.textContent);
async function waitStatus(prefix) {
  await page.waitForFunction((p) => document.querySelector("#status").textContent.startsWith(p),
                             { timeout: 15000 }, prefix);
}
// Shows cluster `id` and waits until the page has drawn it anew.
async function showCluster(id) {
  const renders = await page.evaluate(() => Number(document.body.dataset.renders || 0));
  await page.click(`#clusters li[data-id="${id}"] .name`);
  await page.waitForFunction(
      (id, n) => document.body.dataset.cluster === String(id) && Number(document.body.dataset.renders) > n,
      { timeout: 10000 }, id, renders);
}

const tLoad = Date.now();
await page.goto(base + "/", { waitUntil: "domcontentloaded" });
await page.waitForSelector("#grid .thumb img");
const firstPage = (Date.now() - tLoad) / 1000;
check(firstPage < 1.0, `first page with thumbnails in ${firstPage.toFixed(3)} s (< 1 s)`);

// 1. Rename cluster A.
await showCluster(A);
await page.$eval("#rename-input", (e) => { e.value = ""; });
await page.type("#rename-input", "first group");
await page.click("#rename-btn");
await waitStatus("Renamed");
check((await page.$eval(`#clusters li[data-id="${A}"] .name`, (e) => e.textContent)) === "first group",
      "rename: the list shows the new name");

// 2. Merge cluster C into cluster B.
await showCluster(B);
await page.click(`#clusters li[data-id="${C}"] .tick`);
await page.click("#merge-btn");
await waitStatus("Merged");
check((await page.$(`#clusters li[data-id="${C}"]`)) === null, `merge: cluster ${C} is gone from the list`);

// 3. Split cluster B (now holding B and C) in two.
await showCluster(B);
await page.$eval("#split-k", (e) => { e.value = "2"; });
await page.click("#split-btn");
await waitStatus("Split");
check((await page.$(`#clusters li[data-id="${K}"]`)) !== null, `split: new cluster ${K} in the list`);

// 4. Move two images of cluster D to cluster A, then undo it, then move them again.
async function moveTwo() {
  await showCluster(D);
  const thumbs = await page.$$("#grid .thumb");
  const picked = [];
  for (const t of thumbs.slice(0, 2)) {
    await t.click();
    picked.push(Number(await t.evaluate((e) => e.dataset.index)));
  }
  await page.waitForSelector("#detail .neighbours img");
  await page.select("#move-target", String(A));
  await page.click("#move-btn");
  await waitStatus("Moved 2 images");
  return picked;
}
const firstMove = await moveTwo();
let image = await api(`/api/image?index=${firstMove[0]}&neighbours=0`);
check(image.cluster === A, `move: image ${firstMove[0]} is in cluster ${A}`);
await page.click("#undo-btn");
await waitStatus("Undone");
image = await api(`/api/image?index=${firstMove[0]}&neighbours=0`);
check(image.cluster === D, `undo: image ${firstMove[0]} is back in cluster ${D}`);
const moved = await moveTwo();
check(JSON.stringify(moved) === JSON.stringify(firstMove), "the same two images moved again");

// Refused edits change nothing: one from another client (a merge of the merged cluster), one
// from the page (a split into more parts than the cluster has images), whose message it shows.
const refused = await fetch(base + "/api/edit", {
  method: "POST",
  body: JSON.stringify({ op: "merge", clusters: [C], into: A }),
});
check(refused.status === 409, `a merge of merged cluster ${C} is refused: ${refused.status} ${(await refused.json()).error}`);
refusalExpected = true;
await page.$eval("#split-k", (e) => { e.value = "100000"; });
await page.click("#split-btn");
await waitStatus("Refused");
refusalExpected = false;
log("the page says:", await status());
await page.$eval("#split-k", (e) => { e.value = "2"; });
const refusedState = await api("/api/state");
check(refusedState.version === 6, `records after the refused edits: ${refusedState.version} (6)`);

// 5. Export through the page's link.
const cdp = await page.target().createCDPSession();
await cdp.send("Page.setDownloadBehavior", { behavior: "allow", downloadPath: path.resolve(outDir) });
const downloaded = path.join(outDir, "curated.csv");
fs.rmSync(downloaded, { force: true });
await page.click("#export-link");
for (let i = 0; i < 100 && !fs.existsSync(downloaded); i++) await new Promise((r) => setTimeout(r, 100));
check(fs.existsSync(downloaded), "export: the link downloaded curated.csv");
const after = parseCsv(fs.readFileSync(downloaded, "utf8"));

// 6. The export against what was done, image by image.
let wrong = 0;
const partSizes = new Map();
for (const [i, was] of before) {
  const now = after.get(i);
  let expected;
  if (moved.includes(i)) expected = [A];
  else if (was.cluster === B || was.cluster === C) expected = [B, K];  // merged, then split
  else expected = [was.cluster];
  if (!now || !expected.includes(now.cluster)) {
    if (wrong++ < 5) log(`image ${i}: was ${was.cluster}, now ${now && now.cluster}, expected ${expected}`);
    continue;
  }
  if (expected.length === 2) partSizes.set(now.cluster, (partSizes.get(now.cluster) || 0) + 1);
  if (now.cluster === A && now.name !== "first group") wrong++;
}
check(after.size === before.size, `export: ${after.size} rows (${before.size})`);
check(wrong === 0, `export: every image where the edits put it (${wrong} wrong)`);
check(partSizes.get(B) > 0 && partSizes.get(K) > 0,
      `export: the split's two parts hold ${partSizes.get(B)} and ${partSizes.get(K)} images`);
check(![...after.values()].some((r) => r.cluster === C), `export: no image left in merged cluster ${C}`);

// Screenshot: cluster A with an image's neighbours open.
await showCluster(A);
await (await page.$("#grid .thumb")).click();
await page.waitForSelector("#detail .neighbours img");
await page.waitForFunction(() => [...document.querySelectorAll("img")]
    .filter((i) => i.getBoundingClientRect().top < innerHeight && i.offsetParent)
    .every((i) => i.complete), { timeout: 10000 });
await page.screenshot({ path: path.join(outDir, "serve_page.png") });
log("screenshot", path.join(outDir, "serve_page.png"));

check(pageErrors.length === 0, `no errors in the page (${pageErrors.join("; ")})`);
check(outside.length === 0, `no request outside the server (${outside.join(", ")})`);
log("last status line:", await status());
await browser.close();
log(failures ? `${failures} check(s) failed` : "all checks passed");
process.exit(failures ? 1 : 0);
