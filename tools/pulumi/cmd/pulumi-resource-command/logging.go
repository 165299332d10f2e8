package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// hostLogger is the part of *provider.HostClient the provider logs through (tests record it).
type hostLogger interface {
	Log(ctx context.Context, sev diag.Severity, urn resource.URN, msg string) error
	LogStatus(ctx context.Context, sev diag.Severity, urn resource.URN, msg string) error
}

// logger sends messages about one resource to the CLI, like pulumi-go-provider's Logger.
type logger struct {
	ctx  context.Context
	host hostLogger
	urn  resource.URN
}

// log is a message kept in the CLI's output (Logger.Warning, Logger.Error upstream).
func (l *logger) log(sev diag.Severity, msg string) {
	if l != nil && l.host != nil {
		if err := l.host.Log(l.ctx, sev, l.urn, msg); err != nil {
			l.fallback(fallbackLogger().With("hostLogFailed", err.Error()), sev, msg)
		}
	}
}

// status is an ephemeral message shown only while it is the resource's latest (Logger.InfoStatus upstream).
func (l *logger) status(sev diag.Severity, msg string) {
	if l != nil && l.host != nil {
		if err := l.host.LogStatus(l.ctx, sev, l.urn, msg); err != nil {
			l.fallback(fallbackLogger().With("hostLogFailed", err.Error(), "kind", "status"), sev, msg)
		}
	}
}

// fallbackOutput is where a message the engine refused goes: stderr, as in the real provider.
// pulumi-go-provider's hostSink hands it to slog's default logger, which in pulumi-command 1.2.1
// (SDK 3.224) is still Go's own: a line on stderr. (SDK 3.276, which this stand-in is built with,
// swaps slog's default for a discarding handler, so the stand-in writes to stderr itself.)
var fallbackOutput io.Writer = os.Stderr

func fallbackLogger() *slog.Logger { return slog.New(slog.NewTextHandler(fallbackOutput, nil)) }

// fallback logs a message the engine refused, Info and up, as hostSink's slogSink.log does.
// With the engine gone, stderr is a pipe nobody reads: the write raises SIGPIPE and the Go runtime
// ends the provider, which closes its SSH sessions. That is how a killed pulumi up ends a running
// remote command: at its next line of output, without a signal.
func (l *logger) fallback(lg *slog.Logger, sev diag.Severity, msg string) {
	log := lg.InfoContext
	switch sev {
	case diag.Debug:
		log = lg.DebugContext
	case diag.Warning:
		log = lg.WarnContext
	case diag.Error:
		log = lg.ErrorContext
	}
	log(l.ctx, msg, "urn", string(l.urn))
}

// loggingOf reads the logging input: stdout, stderr, stdoutAndStderr (the default) or none.
func loggingOf(in resource.PropertyMap) string {
	if s := str(in, "logging"); s != "" {
		return s
	}
	return "stdoutAndStderr"
}

type outputs struct{ stdout, stderr string }

// lockedBuffer is written by the stdout and stderr copiers at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// capture keeps stdout, stderr and both interleaved (for the error text), and streams the
// logged streams line by line as ephemeral info statuses; the logging input never changes
// what is captured into the stdout/stderr outputs.
type capture struct {
	stdout, stderr bytes.Buffer
	combined       lockedBuffer
	logging        string
	pipeMu         sync.Mutex
	pw             *io.PipeWriter
	done           chan struct{}
}

func newCapture(_ context.Context, lg *logger, logging string) *capture {
	r, w := io.Pipe()
	c := &capture{logging: logging, pw: w, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lg.status(diag.Info, sc.Text())
		}
		// Upstream stops reading here (a line over 64 KiB then blocks the command); we drain instead.
		_, _ = io.Copy(io.Discard, r)
	}()
	return c
}

// The pipe is shared by both streams, as upstream, so its writes need the lock of one writer.
type pipeWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (p pipeWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.w.Write(b)
}

func (c *capture) stdoutWriter() io.Writer {
	ws := []io.Writer{&c.stdout, &c.combined}
	if c.logging == "stdout" || c.logging == "stdoutAndStderr" {
		ws = append(ws, pipeWriter{&c.pipeMu, c.pw})
	}
	return io.MultiWriter(ws...)
}

func (c *capture) stderrWriter() io.Writer {
	ws := []io.Writer{&c.stderr, &c.combined}
	if c.logging == "stderr" || c.logging == "stdoutAndStderr" {
		ws = append(ws, pipeWriter{&c.pipeMu, c.pw})
	}
	return io.MultiWriter(ws...)
}

// finish waits until every logged line has been sent.
func (c *capture) finish() {
	_ = c.pw.Close()
	<-c.done
}

// outputs are the captured streams with one trailing newline trimmed, as upstream.
func (c *capture) outputs() outputs {
	return outputs{
		stdout: strings.TrimSuffix(c.stdout.String(), "\n"),
		stderr: strings.TrimSuffix(c.stderr.String(), "\n"),
	}
}
