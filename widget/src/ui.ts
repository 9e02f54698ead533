// What the launcher module and the chat module share: the launcher button,
// drawn the same by both so that the chat panel's code can replace the
// launcher without a visible change.

export const LAUNCHER_CSS =
  ".l{position:fixed;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;color:#fff;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483000;font-size:24px}";

/** host makes an isolated root: the page's styles do not reach in, ours do not leak out. */
export const host = (name: string, css: string) => {
  const h = document.createElement("div");
  h.setAttribute("data-nudge", name);
  const root = h.attachShadow({ mode: "open" });
  css = ":host{all:initial}" + css;
  // A constructed sheet needs no 'unsafe-inline' in the page's CSP; a <style> is the fallback.
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    root.adoptedStyleSheets = [sheet];
  } catch {
    root.appendChild(document.createElement("style")).textContent = css;
  }
  const add = () => document.body.appendChild(h);
  document.body ? add() : addEventListener("DOMContentLoaded", add);
  return { h, root };
};

/** launcher draws the round chat button, a speech bubble in SVG (no icon font, no markup parsing). */
export const launcher = (root: ShadowRoot, theme: { color: string; position: string; offset_x?: number; offset_y?: number }) => {
  const b = document.createElement("button");
  b.className = "l";
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "26");
  svg.setAttribute("height", "26");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z");
  path.setAttribute("fill", "currentColor");
  svg.appendChild(path);
  b.appendChild(svg);
  b.setAttribute("aria-label", "Chat with us");
  // Away from the corner by the site's offsets, off the page's own controls there.
  b.style.cssText =
    "background:" + theme.color + ";" + (theme.position == "left" ? "left:" : "right:") + (20 + (theme.offset_x || 0)) + "px;bottom:" + (20 + (theme.offset_y || 0)) + "px";
  root.appendChild(b);
  return b;
};
