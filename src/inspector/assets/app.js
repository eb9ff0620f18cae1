// The inspector page: one event stream in, DOM out. No framework, no build step.
(() => {
  const token = new URLSearchParams(location.search).get('token') ?? '';
  const api = (path, params = {}) => `${path}?${new URLSearchParams({ ...params, token })}`;
  const $ = (id) => document.getElementById(id);
  // The record machine's states, written into the page by the server (src/inspector/assets.ts).
  const STATES = JSON.parse(document.body.dataset.states);

  const formatSize = (n) => {
    if (n === null || n === undefined) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return `${i ? n.toFixed(1) : n} ${units[i]}`;
  };
  const pad = (n) => String(n).padStart(2, '0');
  const formatTime = (t) => {
    if (t === null || t === undefined) return '–';
    const d = new Date(t);
    const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    return d.toDateString() === new Date().toDateString()
      ? time
      : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
  };
  const el = (tag, props = {}, ...children) => {
    const node = document.createElement(tag);
    Object.assign(node, props);
    node.append(...children);
    return node;
  };

  // ---- records: a Map by id plus arrival order; removed ids are dropped from the order lazily.
  const rows = new Map();
  let order = [];
  let loaded = false;
  const filter = { text: '', state: '', sort: null, dir: 'asc' };
  const SORT_INDEX = { id: 0, state: 1, refs: 2, size: 3, used: 4, description: 5 };

  const table = new VirtualTable($('table'), {
    columns: [
      { key: 'id', title: 'id', sortable: true, format: (r) => r[0] },
      { key: 'state', title: 'state', sortable: true, format: (r) => r[1] },
      { key: 'refs', title: 'refs', sortable: true, format: (r) => String(r[2]) },
      { key: 'size', title: 'size', sortable: true, format: (r) => formatSize(r[3]) },
      { key: 'used', title: 'last used', sortable: true, format: (r) => formatTime(r[4]) },
      { key: 'description', title: 'description', sortable: true, format: (r) => r[5] },
    ],
    onSelect: (id) => select(id),
    onSort: (key) => {
      filter.dir = filter.sort === key && filter.dir === 'asc' ? 'desc' : 'asc';
      filter.sort = key;
      table.setSortMark(key, filter.dir);
      scheduleView();
    },
  });

  // Rebuilding the filtered, sorted id list walks every record: at most once per animation frame,
  // and, when a rebuild is slow (sorting 100k rows), no more than a fifth of the time.
  let viewPending = false;
  let lastBuild = { at: 0, ms: 0 };
  function scheduleView() {
    if (viewPending) return;
    viewPending = true;
    const wait = Math.max(0, lastBuild.at + lastBuild.ms * 5 - performance.now());
    setTimeout(
      () =>
        requestAnimationFrame(() => {
          viewPending = false;
          const t = performance.now();
          buildView();
          lastBuild = { at: performance.now(), ms: performance.now() - t };
        }),
      wait,
    );
  }
  function buildView() {
    if (order.length > rows.size) order = order.filter((id) => rows.has(id));
    const text = filter.text.toLowerCase();
    let ids = order;
    if (text || filter.state) {
      ids = order.filter((id) => {
        const r = rows.get(id);
        if (filter.state && r[1] !== filter.state) return false;
        return !text || r[0].toLowerCase().includes(text) || r[1].includes(text) || r[5].toLowerCase().includes(text);
      });
    }
    if (filter.sort) {
      const i = SORT_INDEX[filter.sort];
      const sign = filter.dir === 'asc' ? 1 : -1;
      ids = ids === order ? ids.slice() : ids;
      ids.sort((a, b) => {
        const x = rows.get(a)[i] ?? -1;
        const y = rows.get(b)[i] ?? -1;
        return (x < y ? -1 : x > y ? 1 : 0) * sign;
      });
    }
    table.setData(ids, (id) => rows.get(id), loaded ? 'No records match.' : 'Loading records…');
    $('shown').textContent =
      ids.length === rows.size
        ? `${rows.size.toLocaleString()} records`
        : `${ids.length.toLocaleString()} of ${rows.size.toLocaleString()} records`;
  }
  $('filter').addEventListener('input', (e) => {
    filter.text = e.target.value;
    scheduleView();
  });
  $('state-filter').append(...STATES.map((s) => el('option', { value: s, textContent: s })));
  $('state-filter').addEventListener('change', (e) => {
    filter.state = e.target.value;
    scheduleView();
  });

  // ---- per-state counts: chips above the table and badges on the statechart.
  const chips = new Map();
  for (const s of STATES) {
    const count = el('b', { textContent: '0' });
    const chip = el(
      'button',
      { className: 'chip', type: 'button', title: `show only ${s}` },
      el('span', { textContent: s }),
      count,
    );
    chip.dataset.state = s;
    chip.addEventListener('click', () => {
      filter.state = filter.state === s ? '' : s;
      $('state-filter').value = filter.state;
      scheduleView();
    });
    chips.set(s, count);
    $('chips').append(chip);
  }

  const SVG = 'http://www.w3.org/2000/svg';
  const badges = new Map();
  async function loadDiagram() {
    const res = await fetch(api('api/diagram'));
    $('diagram').innerHTML = await res.text();
    for (const s of STATES) {
      const node = $('diagram').querySelector(`g.node[data-id="${s.replace('.', '_')}"]`);
      const rect = node?.querySelector('rect');
      if (!rect) continue;
      const x = Number(rect.getAttribute('x')) + Number(rect.getAttribute('width'));
      const y = Number(rect.getAttribute('y'));
      const g = document.createElementNS(SVG, 'g');
      g.setAttribute('class', 'badge');
      const bg = document.createElementNS(SVG, 'rect');
      bg.setAttribute('y', String(y - 14));
      bg.setAttribute('height', '28');
      bg.setAttribute('rx', '14');
      const text = document.createElementNS(SVG, 'text');
      text.setAttribute('y', String(y + 7));
      g.append(bg, text);
      node.append(g);
      badges.set(s, { node, g, bg, text, right: x });
    }
    if (lastStatus) showCounts(lastStatus.states);
  }
  function showCounts(states) {
    for (const s of STATES) {
      const n = states[s] ?? 0;
      chips.get(s).textContent = n.toLocaleString();
      chips.get(s).parentElement.classList.toggle('zero', n === 0);
      const b = badges.get(s);
      if (!b) continue;
      b.node.classList.toggle('occupied', n > 0);
      b.g.style.display = n > 0 ? '' : 'none';
      const label = n.toLocaleString();
      if (b.text.textContent === label) continue;
      b.text.textContent = label;
      const w = 16 + label.length * 13;
      b.bg.setAttribute('x', String(b.right - w + 8));
      b.bg.setAttribute('width', String(w));
      b.text.setAttribute('x', String(b.right - w / 2 + 8));
    }
  }

  // ---- supervisor panel
  let lastStatus = null;
  function showStatus(s) {
    lastStatus = s;
    const facts = [
      ['status', s.status],
      ['records', s.records.toLocaleString()],
      ['live actors', s.liveActors.toLocaleString()],
      ['queue depth', String(s.queueDepth)],
      ['in flight', String(s.inFlight.length)],
    ];
    $('supervisor').replaceChildren(
      ...facts.flatMap(([k, v]) => [el('dt', { textContent: k }), el('dd', { textContent: v })]),
    );
    $('supervisor').dataset.status = s.status;
    const inflight = s.inFlight.length
      ? s.inFlight.map((op) =>
          el(
            'tr',
            {},
            el('td', { textContent: op.op }),
            el('td', { className: 'mono', textContent: op.id ?? '–' }),
            el('td', { textContent: `${Math.max(0, s.at - op.since)} ms` }),
          ),
        )
      : [el('tr', {}, el('td', { colSpan: 3, className: 'muted', textContent: 'idle' }))];
    $('inflight').replaceChildren(...inflight);
    showCounts(s.states);
  }

  // ---- selected record: its machine with the current state drawn, beside its history.
  let selected = null;
  let detailTimer = null;
  function select(id) {
    selected = id;
    table.selected = id;
    table.render();
    refreshDetail();
  }
  async function refreshDetail() {
    const id = selected;
    if (!id) return;
    $('detail-id').textContent = id;
    $('detail-empty').hidden = true;
    $('detail-body').hidden = false;
    const res = await fetch(api('api/record', { id }));
    if (id !== selected) return;
    if (res.status === 404) {
      $('detail-facts').replaceChildren(
        el('dt', { textContent: 'state' }),
        el('dd', { className: 'pill', textContent: 'removed' }),
      );
      $('detail-body').dataset.state = 'removed';
      return;
    }
    const { record, svg, history } = await res.json();
    $('detail-body').dataset.state = record.state;
    const m = record.metadata;
    const facts = [
      ['state', record.state],
      ['refs', record.refs],
      ['children', record.children],
      ['parent', record.parent ?? '–'],
      ['size', formatSize(record.size)],
      ['type', m.recordType],
      ['created', formatTime(Date.parse(m.createdAt))],
      ['last used', m.lastUsedAt ? formatTime(Date.parse(m.lastUsedAt)) : '–'],
      ['uses', m.usageCount],
      ['description', m.description ?? '–'],
    ];
    $('detail-facts').replaceChildren(
      ...facts.flatMap(([k, v]) => [
        el('dt', { textContent: k }),
        el('dd', { textContent: String(v), className: k === 'state' ? 'pill' : '' }),
      ]),
    );
    $('detail-svg').innerHTML = svg;
    const lines = history
      .slice()
      .reverse()
      .map((t) =>
        el(
          'tr',
          {},
          el('td', { textContent: formatTime(t.at) }),
          el('td', { textContent: t.from }),
          el('td', { textContent: t.to }),
          el('td', { className: 'mono', textContent: t.event }),
        ),
      );
    $('history').replaceChildren(
      ...(lines.length
        ? lines
        : [
            el(
              'tr',
              {},
              el('td', { colSpan: 4, className: 'muted', textContent: 'no transitions since the cache was opened' }),
            ),
          ]),
    );
  }
  function detailChanged() {
    if (detailTimer) return;
    detailTimer = setTimeout(() => {
      detailTimer = null;
      refreshDetail();
    }, 150);
  }

  // ---- activity log
  const MAX_EVENTS = 80;
  function describeEvent(e) {
    switch (e.type) {
      case 'record.transition':
        return `${e.from} → ${e.to} (${e.event})`;
      case 'record.created':
        return e.parent ? `created on ${e.parent}` : 'created';
      case 'record.removed':
        return `removed: ${e.reason}`;
      case 'op':
        return `${e.op} ${e.outcome}${e.code ? ` ${e.code}` : ''} in ${e.ms.toFixed(1)} ms`;
      case 'prune.removed':
        return `pruned${e.dryRun ? ' (dry run)' : ''}: ${e.reason} [${e.rule}]`;
      case 'events.dropped':
        return `${e.count} events dropped (slow reader)`;
      default:
        return JSON.stringify(e);
    }
  }
  function showEvents(events) {
    const list = $('events');
    const items = events.map((e) => {
      const item = el(
        'li',
        { title: `${e.type} ${e.id ?? ''}` },
        el('time', { textContent: formatTime(e.at) }),
        el('span', { className: 'etype', textContent: e.type.replace('record.', '') }),
        el('span', { className: 'mono', textContent: e.id ?? '' }),
        el('span', { textContent: describeEvent(e) }),
      );
      item.dataset.id = e.id ?? '';
      return item;
    });
    list.prepend(...items.reverse());
    while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
  }

  // ---- the event stream
  function connect() {
    const source = new EventSource(api('api/stream'));
    const conn = $('conn');
    source.addEventListener('open', () => {
      conn.dataset.state = 'live';
      conn.textContent = 'live';
    });
    source.addEventListener('error', () => {
      conn.dataset.state = 'down';
      conn.textContent = 'disconnected, retrying…';
      // EventSource retries a dropped connection by itself, but gives up on an HTTP error such as the
      // server's 503 when too many pages are open: try again later with a new one.
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 5000);
    });
    source.addEventListener('snapshot', (msg) => {
      const { rows: chunk, first, last } = JSON.parse(msg.data);
      if (first) {
        rows.clear();
        order = [];
        loaded = false;
      }
      for (const r of chunk) {
        rows.set(r[0], r);
        order.push(r[0]);
      }
      if (last) loaded = true;
      // The first chunk is a screenful: draw it now rather than after the rest of the snapshot.
      if (first) buildView();
      else scheduleView();
      // The drawing costs a layout of its own: it waits until the table has been drawn.
      if (last && !diagramRequested) {
        diagramRequested = true;
        loadDiagram();
      }
      if (last && selected) detailChanged();
    });
    source.addEventListener('update', (msg) => {
      const u = JSON.parse(msg.data);
      if (u.records) {
        for (const r of u.records.upserts) {
          if (!rows.has(r[0])) order.push(r[0]);
          rows.set(r[0], r);
          table.markChanged(r[0]);
          if (r[0] === selected) detailChanged();
        }
        for (const id of u.records.removes) {
          rows.delete(id);
          if (id === selected) detailChanged();
        }
        scheduleView();
      }
      if (u.status) showStatus(u.status);
      if (u.events) showEvents(u.events);
    });
  }

  let diagramRequested = false;
  buildView();
  connect();
})();
