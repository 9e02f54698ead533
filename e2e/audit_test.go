package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// sections are the console's pages, as the owner's navigation lists them.
var sections = []string{"chats", "visitors", "messages", "transcripts", "contacts", "chatreports", "setup", "offers", "reports", "sites", "members", "email", "tokens", "audit", "account"}

// accessibilityProblems lists, for the page as it is, controls without an
// accessible name, images without alt text, and (narrow) a page wider than
// the screen.
const accessibilityProblems = `(() => {
  const out = [];
  const visible = (e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden';
  const named = (e) => (e.getAttribute('aria-label') || '').trim() || e.getAttribute('aria-labelledby') ||
    (e.labels && [...e.labels].some((l) => l.textContent.trim())) || (e.title || '').trim() ||
    (e.tagName === 'BUTTON' && e.textContent.trim());
  for (const e of document.querySelectorAll('main input:not([type=hidden]), main select, main textarea, main button, header select, header button')) {
    if (visible(e) && !named(e)) out.push('no name: ' + e.outerHTML.slice(0, 120));
  }
  for (const e of document.querySelectorAll('main img')) if (!e.hasAttribute('alt')) out.push('no alt: ' + e.outerHTML.slice(0, 120));
  if (document.documentElement.scrollWidth > window.innerWidth + 1) {
    const clipped = (e) => { for (let p = e.parentElement; p; p = p.parentElement) if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(p).overflowX)) return true; return false; };
    const wide = [...document.querySelectorAll('main *')].filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1 && visible(e) && !clipped(e)).slice(0, 3).map((e) => e.outerHTML.slice(0, 160));
    out.push('wider than the screen (' + document.documentElement.scrollWidth + ' > ' + window.innerWidth + '): ' + wide.join(' | '));
  }
  return out;
})()`

// TestEveryConsolePageIsUsable opens every section of the console as the
// demo owner, on a desktop and on a phone: each page finishes loading, logs
// no error and throws nothing (no unhandled rejection either), names every
// control for assistive technology, and fits the screen.
func TestEveryConsolePageIsUsable(t *testing.T) {
	url := startServer(t)
	for _, width := range []int64{1280, 390} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			ctx := browser(t)
			var mu sync.Mutex
			var errs []string
			err := chromedp.Listen(ctx, func(ev any) {
				mu.Lock()
				defer mu.Unlock()
				switch ev := ev.(type) {
				case *runtime.EventExceptionThrown:
					d := ev.ExceptionDetails
					msg := d.Text
					if d.Exception != nil {
						msg += " " + d.Exception.Description
					}
					errs = append(errs, fmt.Sprintf("exception: %s (%s:%d)", msg, d.URL, d.LineNumber))
				case *runtime.EventConsoleAPICalled:
					if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
						var args []string
						for _, a := range ev.Args {
							args = append(args, string(a.Value)+a.Description)
						}
						errs = append(errs, string(ev.Type)+": "+strings.Join(args, " "))
					}
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			steps := []chromedp.Action[chromedp.Void]{chromedp.EmulateViewport(width, 800)}
			steps = append(steps, consoleLogin(url)...)
			steps = append(steps, chromedp.WaitVisible(chromedp.CSS(`section[aria-label="Chats"]`)))
			if err := chromedp.Do(ctx, steps...); err != nil {
				t.Fatal(err)
			}
			for _, s := range sections {
				if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`nav a[href="/`+s+`"]`))); err != nil {
					t.Fatalf("%s: %v", s, err)
				}
				waitFor(t, ctx, s+" loaded", `location.pathname === '/`+s+`' && document.querySelector('main').textContent.trim() !== '' &&
					!document.querySelector('main .loading, main .pending, main [aria-busy=true]')`)
				problems, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](accessibilityProblems))
				if err != nil {
					t.Fatalf("%s: %v", s, err)
				}
				for _, p := range problems {
					t.Errorf("%s at %d px: %s", s, width, p)
				}
				screenshot(t, ctx, fmt.Sprintf("page-%s-%d", s, width))
			}
			// A failed request is an error in the browser's console too.
			failed, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`performance.getEntriesByType('resource').filter(e => e.responseStatus >= 400).map(e => e.name + ' ' + e.responseStatus)`))
			if err != nil || len(failed) != 0 {
				t.Errorf("failed requests at %d px: %v %v", width, failed, err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, e := range errs {
				t.Errorf("browser console at %d px: %s", width, e)
			}
		})
	}
}
