// A few lines instead of a framework: create elements with attributes, children and listeners.
type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = String(v);
    else if (k === 'value' && 'value' in el) (el as HTMLInputElement).value = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

export const $ = <T extends HTMLElement = HTMLElement>(sel: string, root: ParentNode = document): T => root.querySelector(sel) as T;

/**
 * Replace the children of `box`, keeping keyboard focus on the control with the same
 * data-key if it is still there (lists are rebuilt on every change).
 */
export function replaceKeepingFocus(box: HTMLElement, children: Node[]): void {
  const active = document.activeElement as HTMLElement | null;
  const key = active && box.contains(active) ? active.dataset.key : undefined;
  box.replaceChildren(...children);
  if (key) (box.querySelector(`[data-key="${CSS.escape(key)}"]`) as HTMLElement | null)?.focus();
}
