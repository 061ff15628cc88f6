"""The gallery page's script: plain JavaScript, no library, nothing fetched.

It reads the embedded JSON, and renders the cards that match the search box, the style and
state filters and the sort order, BATCH at a time as the reader scrolls (IntersectionObserver),
so that the page stays quick with thousands of clips. User content only ever reaches the page
through `textContent` and element properties (never `innerHTML`), and images and media are
told `loading="lazy"` / `preload="none"` before their source is set, so nothing is fetched
for cards out of view nor for audio not played. Native media controls are what costs most to
lay out, so a card shows a Play button that turns into its audio's controls when pressed, and
its video element is made when its "Video" section is first opened.
"""

from __future__ import annotations

__all__ = ["BATCH", "SCRIPT"]

BATCH = 24  # cards rendered at a time: one batch stays well under a frame budget

SCRIPT = """
(() => {
'use strict';
const BATCH = @BATCH@;
const LABELS = {lost: 'Lost', error: 'Failed', pending: 'Pending'};
const $ = (id) => document.getElementById(id);
const items = JSON.parse($('gallery-data').textContent).items;
const grid = $('grid'), search = $('search'), tagPick = $('tag'), statePick = $('state');
const sortPick = $('sort'), count = $('count'), empty = $('empty'), more = $('more');
const collator = new Intl.Collator(undefined, {numeric: true, sensitivity: 'base'});
let view = [], shown = 0, timer = 0;
items.forEach((item, i) => { item.i = i; });

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}
function clock(seconds) {
  const s = Math.round(seconds), h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
  const pad = (n) => String(n).padStart(2, '0');
  return (h ? h + ':' + pad(m) : m) + ':' + pad(s % 60);
}
function hue(id) {
  let h = 0;
  for (const c of id) h = (h * 31 + c.codePointAt(0)) % 360;
  return h;
}
function link(href, text, title) {
  const a = el('a', null, text);
  a.href = href; a.target = '_blank'; a.rel = 'noopener';
  if (title) a.title = title;
  return a;
}

function art(item) {
  const box = el('div', 'art');
  if (item.thumb) {
    const img = el('img');
    img.loading = 'lazy'; img.decoding = 'async'; img.alt = ''; img.width = 300; img.height = 300;
    img.src = item.thumb;
    if (item.cover) {
      const a = link(item.cover, undefined, 'Full-size cover');
      a.append(img); box.append(a);
    } else box.append(img);
  } else {
    box.classList.add('placeholder');
    box.style.setProperty('--hue', hue(item.id));
    box.append(el('span', 'glyph', '\\u266a'));
  }
  if (item.state && item.state !== 'ok') {
    box.append(el('span', 'badge ' + item.state, LABELS[item.state] || item.state));
  }
  if (item.duration) box.append(el('span', 'dur', clock(item.duration)));
  return box;
}

function meta(item) {
  const line = el('p', 'meta');
  const parts = [item.creator, item.created, item.model].filter(Boolean);
  parts.forEach((part, i) => {
    if (i) line.append(' \\u00b7 ');
    if (part === item.created) {
      const time = el('time', null, part.slice(0, 10));
      time.dateTime = part; time.title = part;
      line.append(time);
    } else line.append(part);
  });
  return line;
}

function tags(item) {
  const list = el('ul', 'tags');
  for (const tag of item.tags) {
    const li = el('li'), button = el('button', 'tag', tag);
    button.type = 'button'; button.dataset.tag = tag;
    if (tag === tagPick.value) button.classList.add('on');
    li.append(button); list.append(li);
  }
  return list;
}

function players(item, body) {
  if (item.audio) {  // the native controls are costly to lay out: shown once asked for
    const audio = el('audio'), play = el('button', 'play', '\\u25b6\\ufe0e  Play');
    audio.preload = 'none'; audio.src = item.audio;
    play.type = 'button'; play.setAttribute('aria-label', 'Play ' + item.title);
    body.append(play, audio);
  } else if (item.kind === 'clip') body.append(el('p', 'noaudio', 'No audio saved'));
  if (item.video) {
    const box = el('details', 'video');
    box.dataset.src = item.video;
    box.append(el('summary', null, 'Video'));
    body.append(box);
  }
}
function openVideo(box) {  // made on first opening: a media element costs a few ms to build
  if (!box.open || box.querySelector('video')) return;
  const video = el('video'), item = items[box.closest('.card').dataset.index];
  video.controls = true; video.preload = 'metadata'; video.playsInline = true;
  if (item.thumb) video.poster = item.thumb;
  video.src = box.dataset.src;
  box.append(video);
}

function text(body, label, value, cls) {
  if (!value) return;
  const box = el('details', cls);
  box.append(el('summary', null, label), el('pre', null, value));
  body.append(box);
}

function files(item) {
  const row = el('div', 'files');
  if (item.audio) row.append(link(item.audio, 'audio'));
  if (item.video) row.append(link(item.video, 'video'));
  if (item.cover) row.append(link(item.cover, 'cover'));
  const id = el('span', 'id', item.id8);
  id.title = (item.kind === 'clip' ? 'clip ' + item.id + '\\n' : '') + 'task ' + item.task;
  row.append(id);
  return row;
}

function card(item) {
  const node = el('article', 'card');
  node.dataset.id = item.id; node.dataset.index = item.i; node.dataset.state = item.state || 'ok';
  const body = el('div', 'body'), title = el('h2', 'title', item.title);
  title.title = item.title;
  body.append(title, meta(item));
  if (item.tags) body.append(tags(item));
  players(item, body);
  if (item.notes) {
    const list = el('ul', 'notes');
    for (const note of item.notes) list.append(el('li', null, note));
    body.append(list);
  }
  text(body, 'Lyrics', item.lyrics, 'lyrics');
  text(body, 'Prompt', item.prompt, 'prompt');
  body.append(files(item));
  node.append(art(item), body);
  return node;
}

function haystack(item) {
  if (item.hay === undefined) {
    item.hay = [item.title, item.creator, item.style, item.lyrics, item.prompt, item.model,
      item.id, (item.notes || []).join(' ')].join('\\n').toLowerCase();
  }
  return item.hay;
}
function wanted(item, terms, tag, state) {
  if (tag && !(item.tags && item.tags.includes(tag))) return false;
  const mine = item.state || 'ok';
  if (state === 'problem' ? mine !== 'lost' && mine !== 'error' : state && mine !== state) {
    return false;
  }
  return terms.every((term) => haystack(item).includes(term));
}
const byTitle = (a, b) => collator.compare(a.title, b.title) || a.i - b.i;
const byDate = (dir) => (a, b) => {
  if (!a.created || !b.created) return (a.created ? -1 : 0) + (b.created ? 1 : 0) || a.i - b.i;
  return dir * (a.created < b.created ? -1 : a.created > b.created ? 1 : 0) || a.i - b.i;
};
const ORDERS = {new: byDate(-1), old: byDate(1), title: byTitle};

function renderMore() {
  const end = Math.min(view.length, shown + BATCH), batch = document.createDocumentFragment();
  for (; shown < end; shown++) batch.append(card(view[shown]));
  grid.append(batch);
}
const watcher = new IntersectionObserver((entries) => {
  if (!entries.some((entry) => entry.isIntersecting) || shown >= view.length) return;
  renderMore();
  watcher.unobserve(more); watcher.observe(more);  // fires again if still in view
}, {rootMargin: '0px 0px 1500px 0px'});

function update() {
  const terms = search.value.toLowerCase().split(/\\s+/).filter(Boolean);
  view = items.filter((item) => wanted(item, terms, tagPick.value, statePick.value));
  view.sort(ORDERS[sortPick.value] || ORDERS.new);
  grid.replaceChildren();
  shown = 0;
  renderMore();
  empty.hidden = view.length > 0;
  count.textContent = view.length === items.length ? items.length + ' items'
    : view.length + ' of ' + items.length + ' items';
  watcher.unobserve(more); watcher.observe(more);
}

search.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(update, 120); });
for (const pick of [tagPick, statePick, sortPick]) pick.addEventListener('change', update);
grid.addEventListener('click', (event) => {
  const play = event.target.closest('button.play');
  if (play) {
    const audio = play.nextElementSibling;
    audio.controls = true;
    play.remove();
    audio.play();
    return;
  }
  const button = event.target.closest('button.tag');
  if (!button) return;
  tagPick.value = tagPick.value === button.dataset.tag ? '' : button.dataset.tag;
  update();
});
grid.addEventListener('toggle', (event) => {
  if (event.target.matches('details.video')) openVideo(event.target);
}, true);
document.addEventListener('play', (event) => {  // one player at a time
  for (const media of grid.querySelectorAll('audio, video')) {
    if (media !== event.target && !media.paused) media.pause();
  }
}, true);
document.addEventListener('keydown', (event) => {
  if (event.key === '/' && document.activeElement !== search) {
    event.preventDefault(); search.focus();
  }
});

const counts = new Map();
for (const item of items) {
  for (const tag of item.tags || []) counts.set(tag, (counts.get(tag) || 0) + 1);
}
[...counts].sort((a, b) => b[1] - a[1] || collator.compare(a[0], b[0])).forEach(([tag, n]) => {
  tagPick.add(new Option(tag + ' (' + n + ')', tag));
});
update();
performance.mark('gallery-first-cards');  // for the browser test's timing
})();
""".replace("@BATCH@", str(BATCH))
