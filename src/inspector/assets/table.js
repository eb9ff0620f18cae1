/**
 * A virtualized table: only the rows in view (plus a few) exist in the DOM,
 * reused as the user scrolls, so 100k records cost the same as 30.
 */
class VirtualTable {
  constructor(host, { columns, rowHeight = 30, onSelect, onSort }) {
    this.columns = columns;
    this.rowHeight = rowHeight;
    this.onSelect = onSelect;
    this.ids = [];
    this.getRow = () => undefined;
    this.selected = null;
    this.changed = new Map();

    const head = document.createElement('div');
    head.className = 'vt-head vt-grid';
    for (const col of columns) {
      const cell = document.createElement('div');
      cell.className = `c-${col.key}`;
      cell.textContent = col.title;
      if (col.sortable) {
        cell.classList.add('sortable');
        cell.addEventListener('click', () => onSort(col.key));
      }
      head.append(cell);
    }
    this.head = head;
    this.viewport = document.createElement('div');
    this.viewport.className = 'vt-viewport';
    this.spacer = document.createElement('div');
    this.spacer.className = 'vt-spacer';
    this.body = document.createElement('div');
    this.body.className = 'vt-rows';
    this.spacer.append(this.body);
    this.viewport.append(this.spacer);
    this.empty = document.createElement('div');
    this.empty.className = 'vt-empty muted';
    host.append(head, this.viewport, this.empty);
    this.pool = [];
    this.viewport.addEventListener('scroll', () => this.render(), { passive: true });
    new ResizeObserver(() => this.render()).observe(this.viewport);
    this.body.addEventListener('click', (e) => {
      const row = e.target.closest('.vt-row');
      if (row?.dataset.id) this.onSelect(row.dataset.id);
    });
  }

  setSortMark(key, dir) {
    this.columns.forEach((col, i) => {
      this.head.children[i].dataset.sort = col.key === key ? dir : '';
    });
  }

  setData(ids, getRow, emptyText) {
    this.ids = ids;
    this.getRow = getRow;
    this.empty.textContent = ids.length ? '' : emptyText;
    this.spacer.style.height = `${ids.length * this.rowHeight}px`;
    this.render();
  }

  markChanged(id) {
    this.changed.set(id, performance.now());
  }

  rowElement(i) {
    let el = this.pool[i];
    if (el) return el;
    el = document.createElement('div');
    el.className = 'vt-row vt-grid';
    for (const col of this.columns) {
      const cell = document.createElement('div');
      cell.className = `c-${col.key}`;
      el.append(cell);
    }
    this.pool[i] = el;
    this.body.append(el);
    return el;
  }

  render() {
    const h = this.rowHeight;
    const first = Math.max(0, Math.floor(this.viewport.scrollTop / h) - 5);
    const visible = Math.ceil(this.viewport.clientHeight / h) + 10;
    const last = Math.min(this.ids.length, first + visible);
    this.body.style.transform = `translateY(${first * h}px)`;
    const now = performance.now();
    let n = 0;
    for (let i = first; i < last; i++, n++) {
      const id = this.ids[i];
      const row = this.getRow(id);
      const el = this.rowElement(n);
      el.hidden = false;
      el.dataset.id = id;
      el.dataset.state = row ? row[1] : '';
      el.classList.toggle('selected', id === this.selected);
      const at = this.changed.get(id);
      el.classList.toggle('flash', at !== undefined && now - at < 1200);
      this.columns.forEach((col, c) => {
        const text = row ? col.format(row) : '';
        const cell = el.children[c];
        if (cell.textContent !== text) cell.textContent = text;
      });
    }
    for (let i = n; i < this.pool.length; i++) this.pool[i].hidden = true;
    if (this.changed.size > 5000) this.changed.clear();
  }
}
globalThis.VirtualTable = VirtualTable;
