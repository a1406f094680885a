// nslab serve: polls the API every second and updates the drawing.
"use strict";
const labs = {}; // name -> {section, version}

function fmt(n) {
  if (n >= 1e9) return (n / 1e9).toFixed(1) + "G";
  if (n >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (n >= 1e3) return (n / 1e3).toFixed(1) + "k";
  return String(n);
}

function esc(s) {
  return String(s).replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
}

async function getJSON(url) {
  const r = await fetch(url, {cache: "no-store"});
  if (!r.ok) throw new Error(url + ": " + r.status + " " + (await r.text()));
  return r.json();
}

function section(name) {
  let l = labs[name];
  if (l) return l;
  const s = document.createElement("section");
  s.dataset.lab = name;
  s.innerHTML = "<h2></h2><div class=graph></div><div class=procs></div>";
  s.querySelector("h2").textContent = "lab " + name;
  document.getElementById("labs").appendChild(s);
  l = labs[name] = {section: s, version: ""};
  return l;
}

async function refreshLab(name) {
  const l = section(name);
  const v = await getJSON("api/labs/" + encodeURIComponent(name));
  if (v.version !== l.version) {
    const r = await fetch("api/labs/" + encodeURIComponent(name) + "/graph.svg", {cache: "no-store"});
    l.section.querySelector(".graph").innerHTML = await r.text();
    l.version = v.version;
  }
  const sec = l.section;
  for (const lk of v.links) {
    const g = sec.querySelector('g.link[data-link="' + CSS.escape(lk.key) + '"]');
    if (!g) continue;
    g.dataset.state = lk.state;
    let t = g.querySelector("title");
    if (!t) { t = document.createElementNS("http://www.w3.org/2000/svg", "title"); g.prepend(t); }
    t.textContent = lk.key + ": " + lk.state + (lk.detail ? " (" + lk.detail + ")" : "");
    for (const e of lk.ends) {
      const c = g.querySelector('text.counters[data-counters="' + CSS.escape(e.id) + '"]');
      if (!c) continue;
      const s = e.stats;
      c.textContent = e.missing ? "missing" :
        "rx " + fmt(s.rx_packets) + "p/" + fmt(s.rx_bytes) + "B tx " + fmt(s.tx_packets) + "p/" + fmt(s.tx_bytes) + "B" +
        (s.rx_dropped + s.tx_dropped ? " drop " + fmt(s.rx_dropped + s.tx_dropped) : "");
    }
  }
  let rows = "";
  for (const n of v.status.nodes || []) {
    const g = sec.querySelector('g.node[data-node="' + CSS.escape(n.name) + '"]');
    if (g) g.classList.toggle("absent", !n.present);
    for (const p of n.processes || []) {
      rows += "<tr data-proc-node=\"" + esc(n.name) + "\"><td>" + esc(n.name) + "</td><td>" + p.pid + "</td><td class=\"" +
        (p.running ? "" : "dead") + "\">" + (p.running ? "running" : "exited") + "</td><td><code>" + esc(p.argv.join(" ")) +
        "</code></td><td>" + esc(p.log) + "</td></tr>";
    }
  }
  sec.querySelector(".procs").innerHTML = rows ?
    "<table><tr><th>node</th><th>pid</th><th>state</th><th>command</th><th>log</th></tr>" + rows + "</table>" : "";
}

async function tick() {
  const start = Date.now();
  try {
    const list = await getJSON("api/labs");
    const names = list.map(s => s.lab);
    document.getElementById("none").hidden = names.length > 0;
    for (const name of Object.keys(labs)) {
      if (!names.includes(name)) { labs[name].section.remove(); delete labs[name]; }
    }
    await Promise.all(names.map(refreshLab));
    document.getElementById("error").textContent = "";
    document.getElementById("clock").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    document.getElementById("error").textContent = String(e);
  }
  // Once a second, counted from this refresh's start: a slow refresh must
  // not push a link's change further than the next second.
  setTimeout(tick, Math.max(0, 1000 - (Date.now() - start)));
}
tick();
