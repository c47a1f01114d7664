// ozgsync dashboard site: renders the published dashboard JSON (same directory)
// as pages selected by the URL hash, so any static web server suffices:
//   #/                 Land overview (all Kreise)
//   #/kreis/ARS        a Kreis with its members
//   #/verband/ARS      a Samtgemeinde or other Gemeindeverband
//   #/gemeinde/ARS     a Gemeinde: services by Themenfeld, changes of 30 days
//   #/leistung/KEY     one service across the Kreise of the Land
//   #/suche/TEXT       search by name, ARS or AGS (umlauts folded)
// Data is inserted only as text (never as HTML), so a name cannot inject markup.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const cache = new Map();

function load(path) {
  if (!cache.has(path)) {
    cache.set(path, fetch(path).then((r) => {
      if (r.status === 404) {
        throw new Error(`Die Datei ${path} gibt es hier nicht (HTTP 404). Prüfen Sie die Adresse `
          + "oder suchen Sie die Gemeinde, den Verband oder den Kreis über das Suchfeld.");
      }
      if (!r.ok) throw new Error(`${path} konnte nicht geladen werden (HTTP ${r.status}). Bitte später erneut versuchen.`);
      return r.json();
    }));
  }
  return cache.get(path);
}

// Builds an element: el("td", {class: "zahl"}, "12", otherNode).
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : String(c));
  return node;
}

const zahl = (n) => (n ?? 0).toLocaleString("de-DE");
const prozent = (share) => (share === null || share === undefined)
  ? "–" : `${(share * 100).toLocaleString("de-DE", { maximumFractionDigits: 1 })} %`;
const datum = (iso) => iso ? iso.split("-").reverse().join(".") : "–";

// Folds text for search: lower case, accents dropped, punctuation a blank. With
// `spell`, umlauts are spelled out (Müden → mueden) as ozgsync's own name folding
// does (README "Names are matched folded"), else reduced (Müden → muden): a search
// matches when either folding of the query is in that of the name, so "Muden",
// "Mueden" and "Müden" all find Müden (Aller). NFC first, so an umlaut typed with a
// combining diaeresis is the same letter.
function fold(text, spell) {
  let t = text.normalize("NFC").toLowerCase().replace(/ß/g, "ss");
  if (spell) t = t.replace(/ä/g, "ae").replace(/ö/g, "oe").replace(/ü/g, "ue");
  return t.normalize("NFD").replace(/[\u0300-\u036f]/g, "")
    .replace(/[^a-z0-9]+/g, " ").trim();
}

const matches = (name, query) =>
  fold(name, true).includes(fold(query, true)) || fold(name, false).includes(fold(query, false));

// The AGS of a Gemeinde's ARS: Land, Regierungsbezirk, Kreis and Gemeinde digits.
const ags = (ars) => ars.slice(0, 5) + ars.slice(9, 12);

const STATUS_ORDER = ["produktiv", "pilot", "in_umsetzung", "beauftragt", "geplant",
  "nicht_begonnen", "eingestellt", "abgelehnt", "ohne_status"];
const STATUS_COLOUR = {
  produktiv: "#1d6b35", pilot: "#4f8a3a", in_umsetzung: "#9a5a00", beauftragt: "#b7791f",
  geplant: "#5b4a9a", nicht_begonnen: "#8c84b8", eingestellt: "#a3262c", abgelehnt: "#6e1a1e",
  ohne_status: "#aab2bb",
};

let labels = { status: {}, themenfeld: {}, textkennzeichen: {}, level: {}, phase: {}, kanal: {} };
const statusLabel = (code) => labels.status[code] || code;

function statusBadge(code) {
  const c = code || "ohne_status";
  return el("span", { class: `status status-${c}` }, statusLabel(c));
}

// A table with caption and column headers. Each cell also carries its column's
// name (`data-spalte`), by which a phone-width screen shows rows as stacked cards.
function table(caption, headers, rows) {
  const names = headers.map((h) => h.text || h);
  const head = el("tr", {}, headers.map((h, i) =>
    el("th", { scope: "col", class: h.zahl ? "zahl" : null }, names[i])));
  for (const row of rows) {
    [...row.children].forEach((cell, i) => cell.setAttribute("data-spalte", names[i] || ""));
  }
  return el("div", { class: "tabelle", tabindex: "0", role: "region", "aria-label": caption },
    el("table", {},
      el("caption", {}, caption),
      el("thead", {}, head),
      el("tbody", {}, rows)));
}

// Headline counts; for a Kreis, Verband or the Land they count Gemeinde × service
// pairs, and the label says so.
function kennzahlen(counts, aggregate) {
  const item = (value, what) => el("li", {}, el("span", { class: "zahl" }, value),
    el("span", { class: "was" }, what));
  return el("ul", { class: "kennzahlen", "aria-label": "Kennzahlen" },
    item(zahl(counts.relevant), aggregate ? "relevante Leistungen, je Gemeinde gezählt" : "relevante Leistungen"),
    item(zahl(counts.produktiv), "produktiv"),
    item(prozent(counts.anteil_produktiv), "Anteil produktiv"),
    item(zahl(counts.online_beobachtet), "online beobachtet"));
}

// A chart's legend: [status colour key, text] pairs. The swatch colour is set
// through the CSSOM because the CSP refuses inline style attributes.
function legende(items) {
  const list = el("ul", { class: "legende" }, items.map(([key, text]) =>
    el("li", {}, el("span", { "data-farbe": key, "aria-hidden": "true" }), text)));
  for (const swatch of list.querySelectorAll("[data-farbe]")) {
    swatch.style.background = STATUS_COLOUR[swatch.dataset.farbe];
  }
  return list;
}

// A stacked bar of the status distribution, with a legend and a text equivalent.
function statusChart(byStatus) {
  const total = STATUS_ORDER.reduce((s, k) => s + (byStatus[k] || 0), 0);
  const width = 720, height = 36;
  const title = `Statusverteilung: ${STATUS_ORDER.filter((k) => byStatus[k])
    .map((k) => `${statusLabel(k)} ${zahl(byStatus[k])}`).join(", ") || "keine Daten"}`;
  const chart = svg("svg", { class: "diagramm", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  chart.append(svg("title", {}, title));
  let x = 0;
  for (const k of STATUS_ORDER) {
    const n = byStatus[k] || 0;
    if (!n || !total) continue;
    const w = (n / total) * width;
    chart.append(svg("rect", { x: x.toFixed(2), y: 0, width: w.toFixed(2), height, fill: STATUS_COLOUR[k] }));
    x += w;
  }
  return el("figure", {}, chart, legende(STATUS_ORDER.filter((k) => byStatus[k])
    .map((k) => [k, `${statusLabel(k)}: ${zahl(byStatus[k])}`])));
}

// Horizontal bars: share produktiv per unit.
function progressChart(caption, entries) {
  const rowH = 24, labelW = 230, barW = 420, width = labelW + barW + 70;
  const chart = svg("svg", { class: "diagramm", viewBox: `0 0 ${width} ${entries.length * rowH + 4}`,
    role: "img", "aria-label": caption });
  chart.append(svg("title", {}, caption));
  entries.forEach((e, i) => {
    const y = i * rowH + 2;
    const share = e.counts.anteil_produktiv || 0;
    chart.append(svg("text", { x: labelW - 8, y: y + 16, "text-anchor": "end" }, e.name));
    chart.append(svg("rect", { x: labelW, y: y + 3, width: barW, height: rowH - 8, fill: "#e3e8ed" }));
    chart.append(svg("rect", { x: labelW, y: y + 3, width: (share * barW).toFixed(2), height: rowH - 8, fill: STATUS_COLOUR.produktiv }));
    chart.append(svg("text", { x: labelW + barW + 6, y: y + 16 }, prozent(e.counts.anteil_produktiv)));
  });
  return el("figure", {}, chart);
}

// Columns: status changes per day over the 30 days up to `asOf`, the part that
// became produktiv in green. Shown only when there were changes.
function changeChart(changes, asOf) {
  if (!changes.length) return null;
  const end = Date.parse(`${asOf}T00:00:00Z`);
  const day = 86400000;
  const days = Array.from({ length: 30 }, (_, i) => new Date(end - (29 - i) * day).toISOString().slice(0, 10));
  const all = new Map(days.map((d) => [d, 0]));
  const produktiv = new Map(days.map((d) => [d, 0]));
  for (const c of changes) {
    if (!all.has(c.effective_on)) continue;
    all.set(c.effective_on, all.get(c.effective_on) + 1);
    if (c.new === "produktiv") produktiv.set(c.effective_on, produktiv.get(c.effective_on) + 1);
  }
  const max = Math.max(1, ...all.values());
  const colW = 22, plotH = 120, width = days.length * colW + 40, height = plotH + 40;
  const total = changes.filter((c) => all.has(c.effective_on)).length;
  const caption = `Statusänderungen je Tag, ${datum(days[0])} bis ${datum(asOf)}: ${zahl(total)} insgesamt`;
  const chart = svg("svg", { class: "diagramm spalten", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": caption });
  chart.append(svg("title", {}, caption));
  chart.append(svg("line", { x1: 30, y1: plotH + 2, x2: width, y2: plotH + 2, stroke: "#4a5560" }));
  chart.append(svg("text", { x: 24, y: 14, "text-anchor": "end" }, zahl(max)));
  chart.append(svg("text", { x: 24, y: plotH + 2, "text-anchor": "end" }, "0"));
  days.forEach((d, i) => {
    const x = 34 + i * colW;
    const h = (all.get(d) / max) * plotH, hp = (produktiv.get(d) / max) * plotH;
    if (h) chart.append(svg("rect", { x, y: plotH + 2 - h, width: colW - 4, height: h, fill: STATUS_COLOUR.in_umsetzung }));
    if (hp) chart.append(svg("rect", { x, y: plotH + 2 - hp, width: colW - 4, height: hp, fill: STATUS_COLOUR.produktiv }));
    // Every seventh day, counted back from the as-of date, which is always labelled.
    if ((days.length - 1 - i) % 7 === 0) {
      chart.append(svg("text", { x: x + (colW - 4) / 2, y: plotH + 22, "text-anchor": "middle" }, datum(d).slice(0, 6)));
    }
  });
  return el("figure", {}, chart,
    legende([["produktiv", "davon neu produktiv"], ["in_umsetzung", "andere Änderungen"]]));
}

function unitLink(entry) {
  return el("a", { href: `#/${entry.level}/${entry.ars}` }, entry.name);
}

function unitKind(unit) {
  return labels.textkennzeichen[unit.textkennzeichen] || labels.level[unit.level] || unit.level;
}

function changesTable(caption, changes, services, byArs) {
  if (!changes.length) return el("p", { class: "hinweis" }, "Keine Änderungen in den letzten 30 Tagen.");
  const withPlace = changes.some((c) => c.ars);
  const headers = ["Datum"].concat(withPlace ? ["Gemeinde"] : [], ["Leistung", "vorher", "jetzt"]);
  return table(caption, headers, changes.map((c) => el("tr", {},
    el("td", {}, datum(c.effective_on)),
    withPlace ? el("td", {}, byArs.get(c.ars) ? unitLink(byArs.get(c.ars)) : c.ars) : null,
    el("td", {}, el("a", { href: `#/leistung/${c.leistungsschluessel}` },
      services[c.leistungsschluessel]?.name || c.leistungsschluessel)),
    el("td", {}, c.old ? statusBadge(c.old) : "–"),
    el("td", {}, statusBadge(c.new)))));
}

// A unit's row: its name, the `extra` cells, then its headline counts.
function countRow(entry, ...extra) {
  const c = entry.counts;
  return el("tr", {},
    el("th", { scope: "row" }, unitLink(entry)),
    extra.map((cell) => el("td", {}, cell)),
    el("td", { class: "zahl" }, zahl(c.relevant)),
    el("td", { class: "zahl" }, zahl(c.produktiv)),
    el("td", { class: "zahl" }, prozent(c.anteil_produktiv)),
    el("td", { class: "zahl" }, zahl(c.online_beobachtet)));
}

const COUNT_HEADERS = [{ text: "relevant", zahl: true }, { text: "produktiv", zahl: true },
  { text: "Anteil produktiv", zahl: true }, { text: "online beobachtet", zahl: true }];

function sum(entries) {
  const total = { relevant: 0, produktiv: 0, online_beobachtet: 0 };
  for (const e of entries) {
    for (const k of Object.keys(total)) total[k] += e.counts[k] || 0;
  }
  total.anteil_produktiv = total.relevant ? total.produktiv / total.relevant : null;
  return total;
}

async function landPage(index, meta) {
  const kreise = index.units.filter((u) => u.level === "kreis")
    .sort((a, b) => a.name.localeCompare(b.name, "de"));
  const land = meta.land === "03" ? "Niedersachsen" : `Land ${meta.land}`;
  setTrail([]);
  return [
    el("h1", {}, `OZG-Umsetzung in den Kommunen: ${land}`),
    el("p", { class: "untertitel" }, `Stand ${datum(meta.as_of)} · ${zahl(meta.files.kreise)} Kreise, `
      + `${zahl(meta.files.verbaende)} Gemeindeverbände, ${zahl(meta.files.gemeinden)} Gemeinden`),
    kennzahlen(sum(kreise), true),
    el("h2", {}, "Fortschritt je Kreis"),
    progressChart("Anteil produktiver Leistungen je Kreis", kreise),
    el("h2", {}, "Kreise und kreisfreie Städte"),
    table(`Alle ${kreise.length} Kreise mit Kennzahlen`, [{ text: "Kreis" }].concat(COUNT_HEADERS),
      kreise.map((k) => countRow(k))),
  ];
}

async function aggregatePage(level, ars, index, meta) {
  const file = await load(`${level === "kreis" ? "kreise" : "verbaende"}/${ars}.json`);
  const services = (await load("services.json")).services;
  const byArs = new Map(index.units.filter((u) => u.level === "gemeinde").map((u) => [u.ars, u]));
  const unit = file.unit;
  const trail = [];
  if (level === "verband" && unit.kreis_ars) {
    const kreis = index.units.find((u) => u.level === "kreis" && u.ars === unit.kreis_ars);
    if (kreis) trail.push(kreis);
  }
  setTrail(trail.concat([{ name: unit.name }]));
  const members = file.members.map((m) => ({ ...m, level: "gemeinde" }))
    .sort((a, b) => a.name.localeCompare(b.name, "de"));
  const verbaende = level === "kreis"
    ? index.units.filter((u) => u.level === "verband" && u.kreis_ars === ars) : [];
  const byVerband = new Map();
  for (const v of verbaende) byVerband.set(v.ars.slice(0, 9), v);
  return [
    el("h1", {}, unit.name),
    el("p", { class: "untertitel" }, `${unitKind(unit)} · ARS ${unit.ars} · ${zahl(members.length)} Gemeinden`),
    kennzahlen(file.counts, true),
    el("h2", {}, "Statusverteilung"),
    statusChart(file.counts.by_status),
    verbaende.length ? [el("h2", {}, "Samtgemeinden und Gemeindeverbände"),
      table(`Gemeindeverbände in ${unit.name}`, [{ text: "Verband" }].concat(COUNT_HEADERS),
        verbaende.sort((a, b) => a.name.localeCompare(b.name, "de")).map((v) => countRow(v)))] : [],
    el("h2", {}, "Gemeinden"),
    table(`Gemeinden in ${unit.name} mit Kennzahlen`, [{ text: "Gemeinde" }, { text: "AGS" }].concat(COUNT_HEADERS),
      members.map((m) => countRow(m, ags(m.ars)))),
    el("h2", {}, "Änderungen der letzten 30 Tage"),
    changeChart(file.changes_30d, meta.as_of),
    changesTable(`Statusänderungen in ${unit.name}`, file.changes_30d, services, byArs),
  ];
}

async function gemeindePage(ars, index, meta) {
  const file = await load(`gemeinden/${ars}.json`);
  const services = (await load("services.json")).services;
  const unit = file.unit;
  const find = (level, a) => index.units.find((u) => u.level === level && u.ars === a);
  setTrail([find("kreis", unit.kreis_ars), find("verband", unit.verband_ars), { name: unit.name }]
    .filter(Boolean));
  const groups = new Map();
  for (const [key, s] of Object.entries(file.services)) {
    if (s.retired) continue;
    const info = services[key] || { name: key };
    const group = info.themenfeld || "";
    if (!groups.has(group)) groups.set(group, []);
    groups.get(group).push([key, s, info]);
  }
  const names = [...groups.keys()].sort((a, b) =>
    (a === "") - (b === "") || (labels.themenfeld[a] || a).localeCompare(labels.themenfeld[b] || b, "de"));
  const sections = names.map((group) => {
    const title = group ? (labels.themenfeld[group] || group) : "Ohne Themenfeld";
    const rows = groups.get(group).sort((a, b) => a[2].name.localeCompare(b[2].name, "de"));
    return [el("h3", {}, title), table(`${title}: Leistungen in ${unit.name}`,
      ["Leistung", "Status", "seit", "EfA-Dienst bestellbar über", "online beobachtet", "Link"],
      rows.map(([key, s, info]) => {
        const url = s.url || info.url;
        return el("tr", {},
          el("th", { scope: "row" }, el("a", { href: `#/leistung/${key}` }, info.name)),
          el("td", {}, statusBadge(s.status)),
          el("td", {}, datum(s.since)),
          el("td", {}, s.efa_kanal ? (labels.kanal[s.efa_kanal] || s.efa_kanal) : "–"),
          el("td", {}, s.online === true ? "ja" : s.online === false ? "nein" : "–"),
          el("td", {}, url && /^https?:\/\//.test(url)
            ? el("a", { href: url, rel: "noopener" }, "Zum Onlinedienst") : "–"));
      }))];
  });
  return [
    el("h1", {}, unit.name),
    el("p", { class: "untertitel" }, `${unitKind(unit)} · ARS ${unit.ars} · AGS ${ags(unit.ars)}`),
    kennzahlen(file.counts),
    el("h2", {}, "Statusverteilung"),
    statusChart(file.counts.by_status),
    el("h2", {}, "Leistungen nach Themenfeld"),
    sections.length ? sections : el("p", { class: "hinweis" }, "Für diese Gemeinde sind keine Leistungen erfasst."),
    el("h2", {}, "Änderungen der letzten 30 Tage"),
    changeChart(file.changes_30d, meta.as_of),
    changesTable(`Statusänderungen in ${unit.name}`, file.changes_30d, services, new Map()),
  ];
}

async function leistungPage(key, index) {
  const services = (await load("services.json")).services;
  const info = services[key];
  if (!info) throw new Error(`Leistung ${key} ist nicht veröffentlicht.`);
  setTrail([{ name: info.name }]);
  const kreise = index.units.filter((u) => u.level === "kreis")
    .sort((a, b) => a.name.localeCompare(b.name, "de"));
  const files = await Promise.all(kreise.map((k) => load(`kreise/${k.ars}.json`)));
  const total = {};
  const rows = kreise.map((k, i) => {
    const c = files[i].services[key] || {};
    for (const s of STATUS_ORDER) total[s] = (total[s] || 0) + (c[s] || 0);
    return el("tr", {},
      el("th", { scope: "row" }, unitLink(k)),
      el("td", { class: "zahl" }, zahl(c.relevant)),
      el("td", { class: "zahl" }, zahl(c.produktiv)),
      el("td", { class: "zahl" }, zahl(c.online_beobachtet)));
  });
  return [
    el("h1", {}, info.name),
    el("p", { class: "untertitel" }, [`Leistungsschlüssel ${key}`,
      info.themenfeld ? ` · ${labels.themenfeld[info.themenfeld] || info.themenfeld}` : "",
      info.efa ? ` · EfA: ${info.efa.name || info.efa.efa_id}` : ""].join("")),
    el("h2", {}, "Status in allen Gemeinden"),
    statusChart(total),
    table(`${info.name}: Gemeinden je Kreis`, [{ text: "Kreis" }, { text: "relevant", zahl: true },
      { text: "produktiv", zahl: true }, { text: "online beobachtet", zahl: true }], rows),
  ];
}

function searchPage(text, index) {
  const query = fold(text, false);
  const digits = text.replace(/\s+/g, "");
  setTrail([{ name: "Suche" }]);
  document.getElementById("suchfeld").value = text;
  const hits = !query ? [] : index.units.filter((u) => {
    if (/^\d+$/.test(digits)) return u.ars.startsWith(digits) || (u.level === "gemeinde" && ags(u.ars).startsWith(digits));
    return matches(u.name, text);
  }).sort((a, b) => a.name.localeCompare(b.name, "de")).slice(0, 200);
  const kind = (u) => labels.level[u.level] || u.level;
  return [
    el("h1", {}, `Suche: ${text}`),
    hits.length
      ? table(`${hits.length} Treffer`, [{ text: "Name" }, { text: "Ebene" }, { text: "ARS" }].concat(COUNT_HEADERS),
        hits.map((u) => countRow(u, kind(u), u.ars)))
      : el("p", {}, "Keine Gemeinde, kein Verband und kein Kreis passt zu dieser Suche."),
  ];
}

function setTrail(items) {
  const nav = document.getElementById("pfad");
  nav.replaceChildren(el("ol", {}, [el("li", {}, el("a", { href: "#/" }, "Land"))].concat(
    items.map((item) => el("li", {}, item.ars ? unitLink(item) : el("span", { "aria-current": "page" }, item.name))))));
}

function footer(meta) {
  const lic = meta.licence;
  const foot = document.getElementById("fuss");
  foot.replaceChildren(
    el("p", {}, `Stand der Daten: ${datum(meta.as_of)} · erzeugt mit ozgsync ${meta.ozgsync_version}`),
    lic ? el("p", {}, "Quellen: ", lic.attribution.join(" · "), ". Lizenz: ", el("a", { href: lic.url }, lic.name), ".") : null,
    el("p", {}, "Daten als JSON: ", el("a", { href: "index.json" }, "index.json"), " · ",
      el("a", { href: "labels.json" }, "labels.json"), " · ", el("a", { href: "openapi.json" }, "openapi.json"),
      " · ", el("a", { href: "meta.json" }, "meta.json")));
}

async function render() {
  const main = document.getElementById("inhalt");
  const raw = location.hash.replace(/^#\/?/, "");
  try {
    // A malformed escape (`%E0`) is an address error like any other, not a crash.
    let hash;
    try {
      hash = decodeURIComponent(raw);
    } catch {
      throw new Error(`Die Adresse „#/${raw}“ ist nicht lesbar. Bitte die Suche benutzen.`);
    }
    const [page, ...rest] = hash.split("/");
    const arg = rest.join("/");
    const [index, meta, loaded] = await Promise.all([load("index.json"), load("meta.json"), load("labels.json")]);
    labels = loaded;
    footer(meta);
    let content;
    if (!page) content = await landPage(index, meta);
    else if ((page === "kreis" || page === "verband") && /^\d{12}$/.test(arg)) content = await aggregatePage(page, arg, index, meta);
    else if (page === "gemeinde" && /^\d{12}$/.test(arg)) content = await gemeindePage(arg, index, meta);
    else if (page === "leistung" && /^\d{1,20}$/.test(arg)) content = await leistungPage(arg, index);
    else if (page === "suche") content = searchPage(arg, index);
    else throw new Error(`Die Adresse „#/${hash}“ gibt es nicht.`);
    // Synthetic demo data is said so on every page (meta.json "demo", text from labels.json).
    const notice = meta.demo
      ? el("p", { class: "beispieldaten", role: "note" }, labels.demo_notice || "Beispieldaten")
      : null;
    main.replaceChildren(...[notice, content].flat(3).filter(Boolean));
    const h1 = main.querySelector("h1");
    document.title = `${h1 ? h1.textContent : "Übersicht"} – OZG-Umsetzung der Kommunen`;
  } catch (err) {
    main.replaceChildren(el("h1", {}, "Diese Seite kann nicht angezeigt werden"),
      el("p", { class: "fehler", role: "alert" }, String(err.message || err),
        " ", el("a", { href: "#/" }, "Zur Übersicht")));
  }
  if (document.activeElement !== document.getElementById("suchfeld")) main.focus({ preventScroll: true });
}

document.getElementById("suchformular").addEventListener("submit", (event) => {
  event.preventDefault();
  const q = document.getElementById("suchfeld").value.trim();
  if (q) location.hash = `#/suche/${encodeURIComponent(q)}`;
});
window.addEventListener("hashchange", render);
render();
