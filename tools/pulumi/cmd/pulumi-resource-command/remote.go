package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/archive"
)

// connection mirrors command:remote:Connection (defaults as in the npm SDK).
type connection struct {
	host, user, password, privateKey, privateKeyPassword, agentSocketPath, hostKey string
	port, dialErrorLimit, perDialTimeout                                           int
}

func num(m resource.PropertyMap, k resource.PropertyKey, def int) int {
	if v, ok := m[k]; ok && v.IsNumber() {
		return int(v.NumberValue())
	}
	return def
}

func parseConnection(in resource.PropertyMap) (*connection, error) {
	v, ok := in["connection"]
	if !ok || !v.IsObject() {
		return nil, fmt.Errorf("connection is required")
	}
	m := v.ObjectValue()
	if p, ok := m["proxy"]; ok && !p.IsNull() {
		return nil, fmt.Errorf("connection.proxy is not supported by this build of the command provider")
	}
	c := &connection{
		host:               str(m, "host"),
		user:               str(m, "user"),
		password:           str(m, "password"),
		privateKey:         str(m, "privateKey"),
		privateKeyPassword: str(m, "privateKeyPassword"),
		agentSocketPath:    str(m, "agentSocketPath"),
		hostKey:            str(m, "hostKey"),
		port:               num(m, "port", 22),
		dialErrorLimit:     num(m, "dialErrorLimit", 10),
		perDialTimeout:     num(m, "perDialTimeout", 15),
	}
	if c.user == "" {
		c.user = "root"
	}
	if c.host == "" {
		return nil, fmt.Errorf("connection.host is required")
	}
	return c, nil
}

func (c *connection) config() (*ssh.ClientConfig, io.Closer, error) {
	var auth []ssh.AuthMethod
	var closer io.Closer
	if c.privateKey != "" {
		var signer ssh.Signer
		var err error
		if c.privateKeyPassword != "" {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(c.privateKey), []byte(c.privateKeyPassword))
		} else {
			signer, err = ssh.ParsePrivateKey([]byte(c.privateKey))
		}
		if err != nil {
			return nil, nil, fmt.Errorf("parsing connection.privateKey: %w", err)
		}
		auth = append(auth, ssh.PublicKeys(signer))
	}
	if c.password != "" {
		auth = append(auth, ssh.Password(c.password))
	}
	sock := c.agentSocketPath
	if sock == "" && len(auth) == 0 {
		sock = os.Getenv("SSH_AUTH_SOCK")
	}
	if sock != "" {
		conn, err := net.Dial("unix", sock)
		if err != nil {
			return nil, nil, fmt.Errorf("connecting to the SSH agent at %s: %w", sock, err)
		}
		closer = conn
		auth = append(auth, ssh.PublicKeysCallback(agent.NewClient(conn).Signers))
	}
	hostKeyCallback := ssh.InsecureIgnoreHostKey() // #nosec G106 -- as the upstream provider when no hostKey is given
	if c.hostKey != "" {
		key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(c.hostKey))
		if err != nil {
			return nil, closer, fmt.Errorf("parsing connection.hostKey: %w", err)
		}
		hostKeyCallback = ssh.FixedHostKey(key)
	}
	return &ssh.ClientConfig{
		User:            c.user,
		Auth:            auth,
		HostKeyCallback: hostKeyCallback,
		Timeout:         time.Duration(c.perDialTimeout) * time.Second,
	}, closer, nil
}

// dial connects, retrying dial errors up to dialErrorLimit times (-1: no limit).
func (c *connection) dial(ctx context.Context) (*ssh.Client, error) {
	cfg, closer, err := c.config()
	if closer != nil {
		defer func() { _ = closer.Close() }()
	}
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(c.host, strconv.Itoa(c.port))
	var lastErr error
	for attempt := 1; c.dialErrorLimit < 0 || attempt <= max(c.dialErrorLimit, 1); attempt++ {
		client, err := ssh.Dial("tcp", addr, cfg)
		if err == nil {
			return client, nil
		}
		lastErr = err
		// Authentication and host key errors do not get better with retries.
		if strings.Contains(err.Error(), "unable to authenticate") ||
			strings.Contains(err.Error(), "host key mismatch") {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(min(attempt, 5)) * time.Second):
		}
	}
	return nil, fmt.Errorf("dialing %s as %s: %w", addr, c.user, lastErr)
}

// runRemote runs one command line on the host, like command:remote:Command.
func runRemote(ctx context.Context, line string, in resource.PropertyMap, extraEnv []string) (string, string, error) {
	c, err := parseConnection(in)
	if err != nil {
		return "", "", err
	}
	client, err := c.dial(ctx)
	if err != nil {
		return "", "", err
	}
	defer func() { _ = client.Close() }()
	session, err := client.NewSession()
	if err != nil {
		return "", "", err
	}
	defer func() { _ = session.Close() }()
	// As upstream: environment goes through SSH "env" requests, which the server
	// applies only for names it accepts (sshd AcceptEnv); refusals are ignored.
	if v, ok := in["environment"]; ok && v.IsObject() {
		for k, e := range v.ObjectValue() {
			if e.IsString() {
				_ = session.Setenv(string(k), e.StringValue())
			}
		}
	}
	for _, kv := range extraEnv {
		k, val, _ := strings.Cut(kv, "=")
		_ = session.Setenv(k, val)
	}
	if s := str(in, "stdin"); s != "" {
		session.Stdin = strings.NewReader(s)
	}
	var stdout, stderr bytes.Buffer
	session.Stdout = &stdout
	session.Stderr = &stderr
	done := make(chan error, 1)
	go func() { done <- session.Run(line) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = session.Signal(ssh.SIGTERM)
		err = ctx.Err()
	}
	out := strings.TrimSuffix(stdout.String(), "\n")
	errOut := strings.TrimSuffix(stderr.String(), "\n")
	if err != nil {
		return out, errOut, fmt.Errorf("%w: running %q on %s:\nStdout:\n%s\nStderr:\n%s",
			err, line, c.host, out, errOut)
	}
	return out, errOut, nil
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// copyToRemote copies an asset (to remotePath) or an archive (extracted into the
// directory remotePath) over SSH, like command:remote:CopyToRemote.
func copyToRemote(ctx context.Context, in resource.PropertyMap) error {
	remotePath := str(in, "remotePath")
	if remotePath == "" {
		return fmt.Errorf("remotePath is required")
	}
	src, ok := in["source"]
	if !ok {
		return fmt.Errorf("source is required")
	}
	var payload bytes.Buffer
	var line string
	switch {
	case src.IsAsset():
		b, err := src.AssetValue().Bytes()
		if err != nil {
			return fmt.Errorf("reading source: %w", err)
		}
		payload.Write(b)
		line = "cat > " + shellQuote(remotePath)
	case src.IsArchive():
		if err := src.ArchiveValue().Archive(archive.TarArchive, &payload); err != nil {
			return fmt.Errorf("reading source: %w", err)
		}
		line = "mkdir -p " + shellQuote(remotePath) + " && tar -xf - -C " + shellQuote(remotePath)
	default:
		return fmt.Errorf("source must be an asset or an archive")
	}
	c, err := parseConnection(in)
	if err != nil {
		return err
	}
	client, err := c.dial(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = client.Close() }()
	session, err := client.NewSession()
	if err != nil {
		return err
	}
	defer func() { _ = session.Close() }()
	session.Stdin = &payload
	var stderr bytes.Buffer
	session.Stderr = &stderr
	if err := session.Run(line); err != nil {
		return fmt.Errorf("%w: copying to %s:%s: %s", err, c.host, remotePath, strings.TrimSpace(stderr.String()))
	}
	return nil
}
