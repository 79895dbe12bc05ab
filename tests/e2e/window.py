"""The browser window the pages are checked at, and what is checked in it: nothing cut, a whole-page shot."""
from __future__ import annotations

from pathlib import Path

#: A laptop's window: at this size no chart title or legend may be cut.
VIEWPORT = {"width": 1280, "height": 800}

#: Every Plotly title and legend whose box leaves its chart's box (cut by the page), as text.
OVERFLOW_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(plot => {
  const box = plot.querySelector('.main-svg').getBoundingClientRect();  // the drawing, not its container
  if (box.width === 0) return [];
  return [...plot.querySelectorAll('.gtitle, .legend')].filter(el => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1
                           || r.bottom > box.bottom + 1);
  }).map(el => `${el.classList.contains('legend') ? 'legend' : 'title'} "${el.textContent.slice(0, 50)}"`);
})"""


def plotly_overflows(page) -> list[str]:
    """The Plotly titles and legends on the page that do not fit their chart."""
    return page.evaluate(OVERFLOW_JS)


def snap(page, path: Path) -> None:
    """A screenshot of the whole page at the viewport's width: Streamlit scrolls inside its main block,
    so the window is made as tall as the page for the shot, then set back."""
    height = page.evaluate("() => document.querySelector('[data-testid=stMain]')?.scrollHeight ?? 0")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": max(VIEWPORT["height"], int(height))})
    page.screenshot(path=path, full_page=True)
    page.set_viewport_size(VIEWPORT)
