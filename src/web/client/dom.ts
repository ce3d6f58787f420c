/** A few lines of DOM building instead of a framework: the page has a handful of views. */

type Child = Node | string | null | undefined | false;
type Prop = string | number | boolean | undefined | ((event: Event) => void);

/**
 * `h('button', { type: 'button', onclick: go }, 'Go')`. Strings become attributes (`true` an
 * empty one, `false`/`undefined` none), `on*` functions become listeners. Text is always set as
 * text, never parsed as HTML, so model output cannot inject markup.
 */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Record<string, Prop> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (typeof value === 'function') element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, '');
    else if (value !== false && value !== undefined) element.setAttribute(name, String(value));
  }
  element.append(...children.filter((child): child is Node | string => child !== null && child !== undefined && child !== false));
  return element;
}

/** Shows a message in a live region; screen readers announce it. */
export function announce(region: HTMLElement, text: string): void {
  region.textContent = text;
}
