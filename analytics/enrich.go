package analytics

import (
	"net/url"
	"strings"
	"sync"

	"github.com/mileusna/useragent"
)

// client is what the request says about the browser.
type client struct {
	browser, os, device string
	bot                 bool
}

// parseUA classifies a user agent. Crawlers, headless browsers and empty user
// agents are bots: their events are dropped.
func parseUA(s string) client {
	if s == "" || len(s) > 512 {
		return client{bot: true}
	}
	ua := useragent.Parse(s)
	// Copies: s is the request's header, whose bytes the server reuses.
	c := client{browser: strings.Clone(ua.Name), os: strings.Clone(ua.OS)}
	switch {
	case ua.Bot || strings.Contains(s, "Headless") || strings.Contains(s, "Lighthouse") || strings.Contains(s, "PhantomJS"):
		c.bot = true
	case ua.Tablet:
		c.device = "tablet"
	case ua.Mobile:
		c.device = "mobile"
	case ua.Desktop:
		c.device = "desktop"
	default:
		c.device = "other"
	}
	return c
}

// userAgents remembers the user agents parsed last: a site's visitors use a
// few hundred browsers, and parsing one again cost more than the rest of
// enriching an event. At most maxUserAgents are kept, so that made-up ones
// cost a parse, not memory.
type userAgents struct {
	mu sync.Mutex
	m  map[string]client
}

const maxUserAgents = 4096

func (u *userAgents) parse(s string) client {
	u.mu.Lock()
	c, ok := u.m[s]
	u.mu.Unlock()
	if ok {
		return c
	}
	c = parseUA(s)
	u.mu.Lock()
	if len(u.m) >= maxUserAgents || u.m == nil {
		u.m = make(map[string]client, 256)
	}
	u.m[strings.Clone(s)] = c // s is the request's header, whose bytes the server reuses
	u.mu.Unlock()
	return c
}

// source is where a visit came from.
type source struct {
	refHost, source, medium string
	utm                     [5]string // source, medium, campaign, term, content
}

// knownSources names the referrers people recognise, with their medium.
var knownSources = map[string][2]string{
	"google":               {"Google", "organic"},
	"bing.com":             {"Bing", "organic"},
	"duckduckgo.com":       {"DuckDuckGo", "organic"},
	"yahoo":                {"Yahoo", "organic"},
	"yandex":               {"Yandex", "organic"},
	"baidu.com":            {"Baidu", "organic"},
	"ecosia.org":           {"Ecosia", "organic"},
	"search.brave.com":     {"Brave", "organic"},
	"facebook.com":         {"Facebook", "social"},
	"instagram.com":        {"Instagram", "social"},
	"t.co":                 {"Twitter", "social"},
	"twitter.com":          {"Twitter", "social"},
	"x.com":                {"Twitter", "social"},
	"linkedin.com":         {"LinkedIn", "social"},
	"lnkd.in":              {"LinkedIn", "social"},
	"reddit.com":           {"Reddit", "social"},
	"youtube.com":          {"YouTube", "social"},
	"news.ycombinator.com": {"Hacker News", "social"},
	"github.com":           {"GitHub", "referral"},
}

// attribute finds the source of a visit from the referrer and the UTM
// parameters of its landing page. A referrer on the page's own host is not a
// source (the visit started there).
func attribute(page *url.URL, ref string) source {
	var s source
	if page != nil && strings.Contains(page.RawQuery, "utm_") {
		q := page.Query()
		for i, k := range []string{"utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"} {
			s.utm[i] = clean(clip(q.Get(k), maxName))
		}
	}
	if r, err := url.Parse(ref); err == nil && r.Host != "" && (r.Scheme == "http" || r.Scheme == "https") {
		host := strings.TrimPrefix(strings.ToLower(r.Hostname()), "www.")
		if page == nil || host != strings.TrimPrefix(strings.ToLower(page.Hostname()), "www.") {
			s.refHost = clip(host, 253)
			s.source, s.medium = host, "referral"
			if k, ok := lookupSource(host); ok {
				s.source, s.medium = k[0], k[1]
			}
		}
	}
	if s.utm[0] != "" {
		s.source = s.utm[0]
		s.medium = s.utm[1]
	}
	return s
}

// lookupSource matches host or a parent domain; "google" and "yahoo" match
// any of their country domains.
func lookupSource(host string) ([2]string, bool) {
	for h := host; h != ""; {
		if k, ok := knownSources[h]; ok {
			return k, true
		}
		_, rest, ok := strings.Cut(h, ".")
		if !ok {
			break
		}
		h = rest
	}
	for l := range strings.SplitSeq(host, ".") {
		if k, ok := knownSources[l]; ok && (l == "google" || l == "yahoo" || l == "yandex") {
			return k, true
		}
	}
	return [2]string{}, false
}

// pagePath is the path of a page URL, without query or fragment.
func pagePath(u *url.URL) string {
	if u == nil || u.Path == "" {
		return "/"
	}
	return clean(clip(u.Path, maxText))
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !validEnd(s) {
		s = s[:len(s)-1]
	}
	return s
}

// validEnd reports whether s does not end inside a multi-byte character.
func validEnd(s string) bool {
	return strings.ToValidUTF8(s, "") == s
}

// Device describes a user agent for people (an agent seeing a visitor's
// browser): browser, os and device type.
func Device(userAgent string) map[string]string {
	c := parseUA(userAgent)
	return map[string]string{"browser": c.browser, "os": c.os, "device": c.device}
}
