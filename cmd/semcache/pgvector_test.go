package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const pgBin = "/usr/lib/postgresql/15/bin"

// privatePostgres is a throwaway PostgreSQL cluster owned by one test, so
// the test can stop and restart it without disturbing other tests that use
// the shared cluster.
type privatePostgres struct {
	t    *testing.T
	data string
	sock string
	port int
}

// needOrSkip skips a test whose real part is missing, unless CI is set.
func needOrSkip(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	if _, err := os.Stat(filepath.Join(pgBin, "initdb")); err != nil {
		needOrSkip(t, "PostgreSQL 15 server binaries not found in %s", pgBin)
	}
	if _, err := os.Stat("/usr/share/postgresql/15/extension/vector.control"); err != nil {
		needOrSkip(t, "pgvector is not installed (bash .ci/postgres.sh)")
	}
	pgUser, err := user.Lookup("postgres")
	if err != nil || os.Geteuid() != 0 {
		needOrSkip(t, "need root and a postgres user to run a private cluster")
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	base, err := os.MkdirTemp("", "semcache-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(base, uid, gid); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	p := &privatePostgres{t: t, data: filepath.Join(base, "data"), sock: base, port: port}
	p.asPostgres(filepath.Join(pgBin, "initdb"), "-D", p.data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
	p.start()
	t.Cleanup(func() { p.stop() })
	p.asPostgres("/usr/bin/psql", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "postgres", "-d", "postgres",
		"-c", "CREATE EXTENSION IF NOT EXISTS vector")
	return p
}

func (p *privatePostgres) asPostgres(args ...string) {
	p.t.Helper()
	cmd := exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (p *privatePostgres) start() {
	p.asPostgres(filepath.Join(pgBin, "pg_ctl"), "-D", p.data, "-w", "-l", filepath.Join(p.sock, "log"),
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", p.port, p.sock), "start")
}

func (p *privatePostgres) stop() {
	cmd := exec.Command("runuser", "-u", "postgres", "--", filepath.Join(pgBin, "pg_ctl"), "-D", p.data, "-w", "-m", "fast", "stop")
	_ = cmd.Run()
}

func (p *privatePostgres) dsn() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

// TestPgvectorSharedAndOutage: two semcache instances on one pgvector
// database serve each other's entries; when PostgreSQL stops, requests are
// still answered from upstream and the failures are counted; when it
// returns, the store reconnects by itself and what was stored before the
// outage is still served.
func TestPgvectorSharedAndOutage(t *testing.T) {
	pg := startPrivatePostgres(t)
	up, upURL := simUpstream(t)
	// A generous search deadline: on a loaded machine PostgreSQL may take
	// longer than the default 100 ms to answer, and the lookup would then
	// be a (correctly counted) degraded miss instead of the shared hit this
	// test is about.
	args := []string{"--store", "pgvector", "--pg-dsn", pg.dsn(), "--search-timeout", "2s"}
	a := start(t, upURL, t.TempDir(), args...)
	b := start(t, upURL, t.TempDir(), args...)

	first := ask(t, a.api, "tenant", userMsg("How do I reverse a list in Python?"))
	if first.cache != "miss" {
		t.Fatalf("first: %+v", first)
	}
	waitMetric(t, a.admin, "semcache_writeback_written_total 1")
	shared := ask(t, b.api, "tenant", userMsg("how can i reverse a list in python"))
	if shared.cache != "hit-semantic" || shared.content != first.content {
		t.Fatalf("second instance did not hit the first one's entry: %+v", shared)
	}

	pg.stop()
	calls := up.ChatCalls()
	// Answers stored during the outage wait in b's journal and reach the
	// store once it is back: the reverse-a-list one is a valid answer too.
	valid := map[string]bool{first.content: true}
	for i, q := range []string{"in python, how would I reverse a list?", "What is the boiling point of water at sea level?"} {
		r := ask(t, b.api, "tenant", userMsg(q))
		if r.status != 200 || r.cache != "miss" {
			t.Fatalf("during the outage, request %d: %+v", i, r)
		}
		if i == 0 {
			valid[r.content] = true
		}
	}
	if up.ChatCalls()-calls != 2 {
		t.Fatalf("during the outage the answers did not come from upstream")
	}
	waitMetric(t, b.admin, `semcache_degraded_lookups_total{cause="store",namespace="`+namespaceOf("tenant")+`"} 2`)

	pg.start()
	deadline := time.Now().Add(30 * time.Second)
	for {
		// no-store: a miss while the pool reconnects must not turn the next
		// attempt into an exact hit.
		r := ask(t, b.api, "tenant", userMsg("python: how do I reverse a list?"), "Cache-Control", "no-store")
		if r.cache == "hit-semantic" {
			if !valid[r.content] {
				t.Fatalf("after recovery: wrong answer %q", r.content)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover after PostgreSQL came back: last %+v", r)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
