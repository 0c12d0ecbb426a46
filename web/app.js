/* geocorr serve: the page. Plain JavaScript on the JSON API of docs/serve.md; no build step. */
'use strict';

const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';

const state = {
  info: null,
  points: [],        // [[x, y], ...] source pixels
  result: null,      // the last /api/match answer (parsed)
  resultText: '',    // ... and its bytes (Download JSON)
  seq: 0,            // requests answered out of order are dropped
  heatUrl: null,
};

/* The colour of point k: the golden-ratio hue walk of `geocorr match --picture`. */
function colour(k) {
  return `hsl(${((k * 0.618033988749895) % 1) * 360}, 100%, 50%)`;
}

function setStatus(text, error) {
  const s = $('status');
  s.textContent = text;
  s.classList.toggle('error', !!error);
}

function setBusy(busy) {
  document.body.dataset.busy = busy ? '1' : '0';
}

async function api(path, options) {
  const r = await fetch(path, options);
  if (!r.ok) {
    let msg = `${r.status} ${r.statusText}`;
    try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return r;
}

function options() {
  const win = $('window').value.trim();
  return {
    category: $('category').value || null,
    align: $('align').value,
    window: win === '' ? null : Number(win),
    hard: $('hard').checked,
    postproc: $('descriptor').value === 'postproc',
  };
}

function imageSize(img) {
  return [img.naturalWidth, img.naturalHeight];
}

/* Circles in image pixels: the SVG's viewBox is the image's pixel grid, so they follow any scaling. */
function drawMarks(svg, img, marks) {
  const [w, h] = imageSize(img);
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const rect = img.getBoundingClientRect();
  const px = rect.width > 0 ? w / rect.width : 1; // image pixels per screen pixel
  for (const m of marks) {
    const c = document.createElementNS(SVG, 'circle');
    c.setAttribute('cx', m.x);
    c.setAttribute('cy', m.y);
    c.setAttribute('r', 6 * px);
    c.setAttribute('fill', colour(m.k));
    c.setAttribute('stroke-width', 2 * px);
    c.setAttribute('class', m.cls);
    c.dataset.index = m.k;
    svg.appendChild(c);
  }
}

/* Scale each image to fill its panel's width, within the window's height (small images grow too). */
function fit() {
  for (const which of ['src', 'tgt']) {
    const img = $(`${which}-img`);
    const [w, h] = imageSize(img);
    if (!w || !h) continue;
    const panel = $(`panel-${which}`);
    const avail = panel.clientWidth - 16, maxH = Math.max(160, window.innerHeight - 230);
    const s = Math.min(avail / w, maxH / h);
    img.style.width = `${Math.max(1, Math.floor(w * s))}px`;
    img.style.height = `${Math.max(1, Math.floor(h * s))}px`;
  }
}

function redraw() {
  fit();
  drawMarks($('src-marks'), $('src-img'), state.points.map((p, k) => ({x: p[0], y: p[1], k, cls: 'query'})));
  const r = state.result;
  const matches = r ? r.points.map((p) => ({x: p.match[0], y: p.match[1], k: p.index, cls: 'match'})) : [];
  drawMarks($('tgt-marks'), $('tgt-img'), matches);
  const body = $('points').querySelector('tbody');
  body.textContent = '';
  if (!r) return;
  for (const p of r.points) {
    const tr = document.createElement('tr');
    const cells = ['', p.index, `${p.src[0].toFixed(1)}, ${p.src[1].toFixed(1)}`,
                   `${p.match[0].toFixed(1)}, ${p.match[1].toFixed(1)}`, p.score.toFixed(3), p.pose];
    cells.forEach((v, i) => {
      const td = document.createElement('td');
      if (i === 0) {
        const sw = document.createElement('span');
        sw.className = 'swatch';
        sw.style.background = colour(p.index);
        td.appendChild(sw);
      } else {
        td.textContent = v;
      }
      tr.appendChild(td);
    });
    body.appendChild(tr);
  }
}

function describe(r) {
  const a = r.align;
  let pose = `pose alignment ${a.mode}`;
  if ('flip_chosen' in a) {
    const d = (v) => (v === null ? 'n/a' : v.toFixed(4));
    pose = `pose: ${a.flip_chosen ? 'flipped' : 'original'} chosen (${a.distance} distance: original ${d(a.dist_orig)}, ` +
           `flipped ${d(a.dist_flip)}${a.mode === 'flip' ? ', forced' : ''})`;
  }
  return `${r.points.length} point(s) · ${r.descriptor.recipe} descriptor (${r.descriptor.channels} channels) · ` +
         `${r.matching.method}, window ${r.matching.window} · ${pose}`;
}

function clearHeat() {
  const h = $('heat-img');
  h.hidden = true;
  h.removeAttribute('src');
  if (state.heatUrl) URL.revokeObjectURL(state.heatUrl);
  state.heatUrl = null;
}

async function updateHeat(seq) {
  const last = state.points[state.points.length - 1];
  if (!last || !$('show-heat').checked) return clearHeat();
  const o = options();
  const q = new URLSearchParams({src: $('src-select').value, tgt: $('tgt-select').value, x: last[0], y: last[1],
                                 align: o.align, hard: o.hard, postproc: o.postproc});
  if (o.category) q.set('category', o.category);
  if (o.window !== null) q.set('window', o.window);
  const blob = await (await api(`/api/heatmap?${q}`)).blob();
  if (seq !== state.seq) return;
  clearHeat();
  state.heatUrl = URL.createObjectURL(blob);
  $('heat-img').src = state.heatUrl;
  $('heat-img').hidden = false;
}

async function runMatch() {
  const seq = ++state.seq;
  if (!state.points.length) {
    state.result = null;
    state.resultText = '';
    $('download').disabled = true;
    clearHeat();
    redraw();
    setStatus('Click a point on the source image.');
    return;
  }
  redraw();
  setBusy(true);
  setStatus('Matching… (the first use of an image computes its features)');
  try {
    const body = JSON.stringify(Object.assign({src: $('src-select').value, tgt: $('tgt-select').value,
                                               points: state.points}, options()));
    const text = await (await api('/api/match', {method: 'POST', headers: {'Content-Type': 'application/json'}, body})).text();
    if (seq !== state.seq) return;
    state.resultText = text;
    state.result = JSON.parse(text);
    $('download').disabled = false;
    redraw();
    setStatus(describe(state.result));
    await updateHeat(seq);
  } catch (e) {
    if (seq === state.seq) setStatus(e.message, true);
  } finally {
    if (seq === state.seq) setBusy(false);
  }
}

/* A new source drops the points; a new target keeps them and matches them there. */
function loadImage(which) {
  const img = $(`${which}-img`);
  const name = $(`${which}-select`).value;
  if (which === 'src') state.points = [];
  state.result = null;
  clearHeat();
  redraw();
  if (!name) return;
  img.onload = () => {
    img.dataset.loaded = name;
    redraw();
    runMatch();
  };
  img.onerror = () => setStatus(`cannot load image ${name}`, true);
  delete img.dataset.loaded;
  img.src = `/api/image?name=${encodeURIComponent(name)}`;
}

async function refreshImages(select) {
  const list = (await (await api('/api/images')).json()).images;
  for (const which of ['src', 'tgt']) {
    const sel = $(`${which}-select`);
    const keep = sel.value;
    sel.textContent = '';
    for (const im of list) {
      const o = document.createElement('option');
      o.value = im.name;
      o.textContent = `${im.name} (${im.w}×${im.h})`;
      sel.appendChild(o);
    }
    if (keep) sel.value = keep;
  }
  if (select) {
    for (const [which, name] of Object.entries(select)) if (name) $(`${which}-select`).value = name;
  }
  return list;
}

async function upload(which, file) {
  if (!file) return;
  if (file.size > state.info.max_upload_mb * 1048576) {
    setStatus(`${file.name}: larger than the server's upload limit (${state.info.max_upload_mb} MB)`, true);
    return;
  }
  setStatus(`Uploading ${file.name}…`);
  try {
    const r = await api('/api/upload', {method: 'POST', headers: {'Content-Type': file.type}, body: file});
    const name = (await r.json()).name;
    await refreshImages({[which]: name});
    loadImage(which);
  } catch (e) {
    setStatus(`${file.name}: ${e.message}`, true);
  }
}

function onSourceClick(e) {
  const img = $('src-img');
  if (!img.dataset.loaded) return;
  const rect = img.getBoundingClientRect();
  const [w, h] = imageSize(img);
  const x = (e.clientX - rect.left) * w / rect.width, y = (e.clientY - rect.top) * h / rect.height;
  if (!(x >= 0 && y >= 0 && x < w && y < h)) return;
  state.points.push([Math.round(x * 10) / 10, Math.round(y * 10) / 10]);
  runMatch();
}

function download() {
  const url = URL.createObjectURL(new Blob([state.resultText], {type: 'application/json'}));
  const a = document.createElement('a');
  a.href = url;
  a.download = 'matches.json';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

async function init() {
  setBusy(true);
  try {
    state.info = await (await api('/api/info')).json();
    const pp = $('descriptor').querySelector('option[value=postproc]');
    pp.disabled = !state.info.postproc;
    pp.textContent = state.info.postproc ? 'post-processor' : 'post-processor (not loaded)';
    $('descriptor').querySelector('option[value=zeroshot]').textContent =
        state.info.recipe === 'dino' ? 'zero-shot (DINOv2)' : 'zero-shot (SD + DINOv2)';
    for (const c of state.info.categories) {
      const o = document.createElement('option');
      o.value = o.textContent = c;
      $('category').appendChild(o);
    }
    const url = new URLSearchParams(location.search);
    const list = await refreshImages();
    const pick = (which, i) => url.get(which) || (list[Math.min(i, list.length - 1)] || {}).name || '';
    await refreshImages({src: pick('src', 0), tgt: pick('tgt', 1)});
    if (!list.length) setStatus('No images yet: upload two (or start geocorr serve with --images DIR).');
    else setStatus('Click a point on the source image.');
    loadImage('src');
    loadImage('tgt');
  } catch (e) {
    setStatus(e.message, true);
  } finally {
    setBusy(false);
  }
  $('controls').addEventListener('submit', (e) => e.preventDefault()); // Enter in a field must not reload the page
  $('src-img').addEventListener('click', onSourceClick);
  $('src-select').addEventListener('change', () => loadImage('src'));
  $('tgt-select').addEventListener('change', () => loadImage('tgt'));
  $('src-upload').addEventListener('change', (e) => upload('src', e.target.files[0]));
  $('tgt-upload').addEventListener('change', (e) => upload('tgt', e.target.files[0]));
  $('descriptor').addEventListener('change', () => {
    $('window').value = $('descriptor').value === 'postproc' ? 7 : 5; // `geocorr match`'s defaults
    runMatch();
  });
  for (const id of ['align', 'category', 'window', 'hard']) $(id).addEventListener('change', runMatch);
  $('show-heat').addEventListener('change', () => updateHeat(state.seq).catch((e) => setStatus(e.message, true)));
  $('undo').addEventListener('click', () => { state.points.pop(); runMatch(); });
  $('clear').addEventListener('click', () => { state.points = []; runMatch(); });
  $('download').addEventListener('click', download);
  new ResizeObserver(redraw).observe($('panel-src'));
  new ResizeObserver(redraw).observe($('panel-tgt'));
}

init();
