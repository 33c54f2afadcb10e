// Small DOM helpers: the page builds its elements with these (never innerHTML, never a style attribute).

const SVG_NS = 'http://www.w3.org/2000/svg';

type Child = Node | string | undefined | false;

// The element with this id; throws when the page lacks it (a page and script out of step).
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`the page has no #${id}`);
  return found as T;
}

// An HTML element with a class, attributes and children.
export function html<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: { class?: string; attrs?: Record<string, string> } = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (props.class) element.className = props.class;
  for (const [name, value] of Object.entries(props.attrs ?? {})) element.setAttribute(name, value);
  append(element, children);
  return element;
}

// An SVG element with attributes (numbers written as they are) and children.
export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number> = {},
  ...children: Child[]
): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, String(value));
  append(element, children);
  return element;
}

function append(element: Element, children: Child[]): void {
  for (const child of children) {
    if (child === undefined || child === false) continue;
    element.append(child);
  }
}

// Sets a bar's length (0 to 1) through the CSSOM, which a strict style-src allows.
export function setBar(element: HTMLElement, share: number): void {
  element.style.width = `${Math.max(0, Math.min(1, share)) * 100}%`;
}
