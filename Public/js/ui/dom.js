// Small DOM helpers. Server text only ever goes in through textContent or
// text nodes (h() children), never through HTML parsing.

export const $ = (id) => document.getElementById(id);

// h('li', {class: 'x', dataset: {userId}, onclick: fn}, child, 'text', …)
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : value);
  }
  el.append(...children.filter((child) => child != null && child !== false));
  return el;
}

export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

const keyed = new WeakMap();

// Makes parent's children match items, reusing the element made earlier for
// the same key, so focus, scroll position and unchanged nodes survive a
// re-render. parent must hold only children made by this function.
export function reconcile(parent, items, keyOf, create, update) {
  const previous = keyed.get(parent) ?? new Map();
  const next = new Map();
  let cursor = parent.firstElementChild;
  for (const item of items) {
    const key = keyOf(item);
    const node = previous.get(key) ?? create(item);
    update(node, item);
    next.set(key, node);
    if (node === cursor) cursor = cursor.nextElementSibling;
    else parent.insertBefore(node, cursor);
  }
  for (const [key, node] of previous) if (!next.has(key)) node.remove();
  keyed.set(parent, next);
}
