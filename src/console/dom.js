// DOM helpers. Text only ever goes in as text nodes (textContent): nothing from the gate is parsed as HTML.

/**
 * Creates an element. attrs: plain attributes, plus `class`, `dataset` (object), `on` (event
 * handlers), `props` (properties such as value or disabled). Children: nodes, strings (become
 * text), null/false (skipped), arrays (flattened).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === 'props') Object.assign(el, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const SVG = 'http://www.w3.org/2000/svg';
const ICONS = {
  check: 'M4 12.5l5 5L20 6.5',
  blocked: 'M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18M5.6 5.6l12.8 12.8',
  pause: 'M8 5v14M16 5v14',
  warning: 'M12 3L2 21h20zM12 10v5M12 17.5v.5',
  clock: 'M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18M12 7v5l3 3',
  unplug: 'M4 4l16 16M9 7V3M15 7V3M7 7h10v4a5 5 0 0 1-10 0zM12 16v5',
  live: 'M12 8a4 4 0 1 0 0 8a4 4 0 1 0 0-8',
  cross: 'M6 6l12 12M18 6L6 18',
  copy: 'M9 9h11v11H9zM5 15H4V4h11v1',
  key: 'M14 10a4 4 0 1 0-1 2.6L21 21M17 17l2-2',
};

/** A decorative inline SVG icon (hidden from assistive technology: the text next to it says it). */
export function icon(name) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('class', `icon icon-${name}`);
  const path = document.createElementNS(SVG, 'path');
  path.setAttribute('d', ICONS[name] ?? ICONS.warning);
  svg.append(path);
  return svg;
}

/**
 * Replaces the children of `container` with `nodes`, keeping keyboard focus on the element with
 * the same data-key if the focused element was inside.
 */
export function replaceChildren(container, ...nodes) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.dataset?.key : undefined;
  container.replaceChildren(...nodes.flat().filter(Boolean));
  if (key) container.querySelector(`[data-key="${CSS.escape(key)}"]`)?.focus();
}

/** Copies text to the clipboard; falls back to a hidden textarea where the Clipboard API is unavailable (plain http). */
export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through
  }
  const ta = h('textarea', { class: 'offscreen', readonly: true, 'aria-hidden': 'true', tabindex: '-1' });
  ta.value = text;
  document.body.append(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  ta.remove();
  return ok;
}
