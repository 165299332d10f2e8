package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// testServer is an in-process SSH server on 127.0.0.1 that runs exec requests with /bin/sh,
// answers env requests per acceptEnv (like sshd's AcceptEnv) and serves the sftp subsystem.
type testServer struct {
	ln        net.Listener
	port      int
	hostKey   ssh.Signer
	clientKey ssh.Signer
	clientPEM string
	acceptEnv map[string]bool

	mu         sync.Mutex
	dials      []time.Time       // every accepted TCP connection
	execs      []string          // every exec request
	envSeen    map[string]string // every env request, accepted or not
	handshakes int               // completed handshakes
}

type serverOpts struct {
	hostKey   ssh.Signer // default: a new ed25519 key
	acceptEnv []string
}

// newSigner makes a fresh host or client key of the given kind ("ed25519" or "rsa").
func newSigner(t *testing.T, kind string) ssh.Signer {
	t.Helper()
	var key any
	var err error
	switch kind {
	case "ed25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case "rsa":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		t.Fatalf("no key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func startServer(t *testing.T, o serverOpts) *testServer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{hostKey: o.hostKey, clientKey: signer, clientPEM: string(pem.EncodeToMemory(block)),
		acceptEnv: map[string]bool{}, envSeen: map[string]string{}}
	if s.hostKey == nil {
		s.hostKey = newSigner(t, "ed25519")
	}
	for _, k := range o.acceptEnv {
		s.acceptEnv[k] = true
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln = ln
	s.port = ln.Addr().(*net.TCPAddr).Port
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if string(key.Marshal()) == string(s.clientKey.PublicKey().Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	cfg.AddHostKey(s.hostKey)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.dials = append(s.dials, time.Now())
			s.mu.Unlock()
			go s.serve(c, cfg)
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return s
}

func (s *testServer) serve(c net.Conn, cfg *ssh.ServerConfig) {
	defer func() { _ = c.Close() }()
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.handshakes++
	s.mu.Unlock()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go s.session(ch, chReqs)
	}
}

func sshString(b []byte) (string, []byte) {
	if len(b) < 4 {
		return "", nil
	}
	n := binary.BigEndian.Uint32(b)
	if uint32(len(b)-4) < n {
		return "", nil
	}
	return string(b[4 : 4+n]), b[4+n:]
}

func (s *testServer) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer func() { _ = ch.Close() }()
	var env []string
	for req := range reqs {
		switch req.Type {
		case "env":
			k, rest := sshString(req.Payload)
			v, _ := sshString(rest)
			s.mu.Lock()
			s.envSeen[k] = v
			ok := s.acceptEnv[k]
			s.mu.Unlock()
			if ok {
				env = append(env, k+"="+v)
			}
			_ = req.Reply(ok, nil)
		case "exec":
			line, _ := sshString(req.Payload)
			s.mu.Lock()
			s.execs = append(s.execs, line)
			s.mu.Unlock()
			_ = req.Reply(true, nil)
			cmd := exec.Command("/bin/sh", "-c", line)
			cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
			cmd.Stdin = ch
			cmd.Stdout = ch
			cmd.Stderr = ch.Stderr()
			code := 0
			if err := cmd.Run(); err != nil {
				code = 255
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					code = ee.ExitCode()
				}
			}
			_, _ = ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, uint32(code)))
			return
		case "subsystem":
			name, _ := sshString(req.Payload)
			if name != "sftp" {
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			srv, err := sftp.NewServer(ch)
			if err != nil {
				return
			}
			_ = srv.Serve()
			return
		default:
			_ = req.Reply(false, nil)
		}
	}
}

func (s *testServer) snapshot() (dials []time.Time, execs []string, env map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	env = map[string]string{}
	for k, v := range s.envSeen {
		env[k] = v
	}
	return append([]time.Time(nil), s.dials...), append([]string(nil), s.execs...), env
}

// connection is the connection input for this server, as the npm SDK sends it (defaults filled).
func (s *testServer) connection(extra map[string]any) resource.PropertyValue {
	m := map[string]any{
		"host":           "127.0.0.1",
		"port":           float64(s.port),
		"user":           "root",
		"privateKey":     s.clientPEM,
		"dialErrorLimit": float64(defaultDialErrorLimit),
		"perDialTimeout": float64(defaultPerDialTimeout),
		"hostKey":        string(ssh.MarshalAuthorizedKey(s.hostKey.PublicKey())),
	}
	for k, v := range extra {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return resource.NewObjectProperty(resource.NewPropertyMapFromMap(m))
}

func (s *testServer) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// logRecord is one message the provider sent to the engine.
type logRecord struct {
	sev    diag.Severity
	status bool
	msg    string
}

type recordingHost struct {
	mu      sync.Mutex
	records []logRecord
}

func (h *recordingHost) Log(_ context.Context, sev diag.Severity, _ resource.URN, msg string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, logRecord{sev, false, msg})
	return nil
}

func (h *recordingHost) LogStatus(_ context.Context, sev diag.Severity, _ resource.URN, msg string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, logRecord{sev, true, msg})
	return nil
}

func (h *recordingHost) all() []logRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]logRecord(nil), h.records...)
}
