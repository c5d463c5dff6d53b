package proxy

import (
	"context"
	"net/http"
	"sync"
)

// flight is one upstream call that several identical requests share. The
// leader's fetch appends the upstream body as it arrives; every subscriber
// (the leader's own client included) replays it from the start and then
// follows it live, so followers of a streaming leader get the stream as it
// arrives, not after it ends.
type flight struct {
	key string

	mu          sync.Mutex
	status      int
	header      http.Header
	fromCache   bool // answered by the leader's re-check, not fetched
	headerReady chan struct{}
	body        []byte
	changed     chan struct{} // closed and replaced on every append
	done        bool
	broken      bool // the upstream body ended with an error
	subscribers int
	abandoned   bool
	cancel      context.CancelFunc
	// lead, when set, is the leader's client, written to on the fetching
	// goroutine (the leader's own) as the flight progresses.
	lead *leadWriter
}

func newFlight(key string, cancel context.CancelFunc) *flight {
	return &flight{key: key, headerReady: make(chan struct{}), changed: make(chan struct{}), cancel: cancel}
}

func (f *flight) setHeader(status int, h http.Header, fromCache bool) {
	f.mu.Lock()
	f.status, f.header, f.fromCache = status, h, fromCache
	f.mu.Unlock()
	close(f.headerReady)
	if f.lead != nil {
		f.lead.header(status, h)
	}
}

func (f *flight) append(p []byte) {
	f.mu.Lock()
	f.body = append(f.body, p...)
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
	if f.lead != nil {
		f.lead.write(p)
	}
}

func (f *flight) finish(broken bool) {
	f.mu.Lock()
	f.done, f.broken = true, broken
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
	if f.lead != nil {
		f.lead.finish(broken)
	}
}

// next returns the body bytes after off, whether the flight is over, and a
// channel closed when more arrives.
func (f *flight) next(off int) (chunk []byte, done, broken bool, wait <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.body[off:], f.done, f.broken, f.changed
}

// flights coalesces identical in-flight upstream calls.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
	// keepOnDisconnect lets an upstream call finish (and be cached) after
	// every client went away.
	keepOnDisconnect bool
}

// join returns the flight for key, creating it when absent; leader is true
// for the caller that must start the fetch.
func (fs *flights) join(key string, newCancel func() (context.Context, context.CancelFunc)) (f *flight, ctx context.Context, leader bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f, ok := fs.m[key]; ok {
		f.mu.Lock()
		f.subscribers++
		f.mu.Unlock()
		return f, nil, false
	}
	ctx, cancel := newCancel()
	f = newFlight(key, cancel)
	f.subscribers = 1
	fs.m[key] = f
	return f, ctx, true
}

// leave drops a subscriber; when the last one leaves before the flight is
// done, the upstream call is cancelled (unless keepOnDisconnect) and the
// flight is forgotten so new requests start afresh.
func (fs *flights) leave(f *flight) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f.mu.Lock()
	f.subscribers--
	last := f.subscribers == 0 && !f.done
	f.mu.Unlock()
	if last && !fs.keepOnDisconnect {
		f.abandoned = true
		if fs.m[f.key] == f {
			delete(fs.m, f.key)
		}
		f.cancel()
	}
}

// remove forgets a finished flight.
func (fs *flights) remove(f *flight) {
	fs.mu.Lock()
	if fs.m[f.key] == f {
		delete(fs.m, f.key)
	}
	fs.mu.Unlock()
}
