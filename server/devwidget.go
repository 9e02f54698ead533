package server

import (
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/nudgehq/nudge/widget"
)

// devBundle rebuilds the page side from a folder on disk when one of its files
// changes (--dev-widget), checking at most once a second. A build error is
// logged and the last good bundle kept.
type devBundle struct {
	dir string
	log interface{ Warn(string, ...any) }

	mu      sync.Mutex
	checked time.Time
	stamp   time.Time
	current *widget.Bundle
}

func (d *devBundle) get(fallback *widget.Bundle) *widget.Bundle {
	d.mu.Lock()
	defer d.mu.Unlock()
	if time.Since(d.checked) < time.Second && d.current != nil {
		return d.current
	}
	d.checked = time.Now()
	var newest time.Time
	fs.WalkDir(os.DirFS(d.dir), ".", func(_ string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if info, err := e.Info(); err == nil && info.ModTime().After(newest) {
				newest = info.ModTime()
			}
		}
		return nil
	})
	if d.current != nil && !newest.After(d.stamp) {
		return d.current
	}
	b, err := widget.Build(os.DirFS(d.dir), true)
	if err != nil {
		d.log.Warn("dev widget build failed; serving the last good bundle", "err", err)
		if d.current == nil {
			d.current = fallback
		}
		return d.current
	}
	d.current, d.stamp = b, newest
	return b
}
