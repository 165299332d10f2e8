package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/retry"
)

// Defaults of command:remote:Connection (the provider's schema defaults, also applied by the npm SDK).
const (
	defaultDialErrorLimit = 10
	defaultPerDialTimeout = 15
)

// connection is command:remote:Connection; optional strings stay nil when unset, as upstream.
type connection struct {
	host, user                                                string
	port                                                      int
	password, privateKey, privateKeyPassword, agentSocketPath *string
	hostKey                                                   *string
	dialErrorLimit, perDialTimeout                            int
}

func num(m resource.PropertyMap, k resource.PropertyKey, def int) int {
	if v, ok := m[k]; ok && v.IsNumber() {
		return int(v.NumberValue())
	}
	return def
}

func optStr(m resource.PropertyMap, k resource.PropertyKey) *string {
	if v, ok := m[k]; ok && v.IsString() {
		s := v.StringValue()
		return &s
	}
	return nil
}

// parseConnection reads the connection input of plain (secret-free) inputs.
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
		port:               num(m, "port", 22),
		password:           optStr(m, "password"),
		privateKey:         optStr(m, "privateKey"),
		privateKeyPassword: optStr(m, "privateKeyPassword"),
		agentSocketPath:    optStr(m, "agentSocketPath"),
		hostKey:            optStr(m, "hostKey"),
		dialErrorLimit:     num(m, "dialErrorLimit", defaultDialErrorLimit),
		perDialTimeout:     num(m, "perDialTimeout", defaultPerDialTimeout),
	}
	if c.user == "" {
		c.user = "root"
	}
	if c.host == "" {
		return nil, fmt.Errorf("connection.host is required")
	}
	return c, nil
}

// sshConfig builds the client config the way upstream's connectionBase.SSHConfig does:
// a pinned host key also limits the handshake to that key's algorithm.
func (c *connection) sshConfig() (*ssh.ClientConfig, io.Closer, error) {
	var hostKeyCallback ssh.HostKeyCallback
	var hostKeyAlgorithms []string
	if c.hostKey != nil {
		key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(*c.hostKey))
		if err != nil {
			return nil, nil, fmt.Errorf("failed to parse host key: %w", err)
		}
		hostKeyCallback = ssh.FixedHostKey(key)
		hostKeyAlgorithms = []string{key.Type()}
	} else {
		hostKeyCallback = ssh.InsecureIgnoreHostKey() // #nosec G106 -- upstream ignores the host key when none is pinned
	}
	cfg := &ssh.ClientConfig{
		User:              c.user,
		HostKeyCallback:   hostKeyCallback,
		HostKeyAlgorithms: hostKeyAlgorithms,
		Timeout:           time.Duration(c.perDialTimeout) * time.Second,
	}
	if c.privateKey != nil {
		var signer ssh.Signer
		var err error
		if c.privateKeyPassword != nil {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(*c.privateKey), []byte(*c.privateKeyPassword))
		} else {
			signer, err = ssh.ParsePrivateKey([]byte(*c.privateKey))
		}
		if err != nil {
			return nil, nil, err
		}
		cfg.Auth = append(cfg.Auth, ssh.PublicKeys(signer))
	}
	if c.password != nil {
		pw := *c.password
		cfg.Auth = append(cfg.Auth, ssh.Password(pw),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = pw
				}
				return answers, nil
			}))
	}
	sock := c.agentSocketPath
	if sock == nil {
		if env := os.Getenv("SSH_AUTH_SOCK"); env != "" {
			sock = &env
		}
	}
	var closer io.Closer
	if sock != nil {
		conn, err := net.Dial("unix", *sock)
		if err != nil {
			return nil, nil, err
		}
		closer = conn
		cfg.Auth = append(cfg.Auth, ssh.PublicKeysCallback(agent.NewClient(conn).Signers))
	}
	return cfg, closer, nil
}

// reachedDialErrorLimit: after limit+1 failed dials, unless the limit is -1 (unlimited).
func reachedDialErrorLimit(dials, limit int) bool {
	return limit > -1 && dials > limit
}

// dialWithRetry retries every error (auth and host key errors too) with the sdk's retry.Until
// backoff (100 ms, x1.5, at most 5 s), reporting each failure as an ephemeral info status.
func dialWithRetry[T any](
	ctx context.Context, lg *logger, msg string, maxAttempts int, f func() (T, error),
) (T, error) {
	var zero T
	ok, data, err := retry.Until(ctx, retry.Acceptor{
		Accept: func(try int, _ time.Duration) (bool, any, error) {
			result, dialErr := f()
			if dialErr == nil {
				return true, result, nil
			}
			dials := try + 1
			if reachedDialErrorLimit(dials, maxAttempts) {
				return true, nil, fmt.Errorf("after %d failed attempts: %w", try, dialErr)
			}
			limit := "inf"
			if maxAttempts != -1 {
				limit = fmt.Sprint(maxAttempts)
			}
			lg.status(diag.Info, fmt.Sprintf("%s %d/%s failed: retrying", msg, dials, limit))
			return false, nil, nil
		},
	})
	if ok && err == nil {
		return data.(T), nil
	}
	if err == nil {
		err = ctx.Err()
	}
	return zero, err
}

// dial connects to the host as upstream's Connection.Dial does (no proxy support here).
func (c *connection) dial(ctx context.Context, lg *logger) (*ssh.Client, error) {
	cfg, agentConn, err := c.sshConfig()
	if err != nil {
		return nil, err
	}
	if agentConn != nil {
		defer func() { _ = agentConn.Close() }()
	}
	endpoint := net.JoinHostPort(c.host, fmt.Sprint(c.port))
	return dialWithRetry(ctx, lg, "Dial", c.dialErrorLimit, func() (*ssh.Client, error) {
		return ssh.Dial("tcp", endpoint, cfg)
	})
}

// setenvMessage is upstream's text when sshd refuses an "env" request (tab and line breaks included).
func setenvMessage(key string) string {
	return fmt.Sprintf(`Unable to set '%s'. This only works if your SSH server is configured to accept
	these variables via AcceptEnv. Alternatively, if a Bash-like shell runs the command on the remote host, you could
	prefix the command itself with the variables in the form 'VAR=value command'`, key)
}

const (
	envStdout = "PULUMI_COMMAND_STDOUT"
	envStderr = "PULUMI_COMMAND_STDERR"
)

// runRemote runs one command line on the host like upstream's remote CommandOutputs.run.
// prev holds the stdout/stderr of the state the command runs against (empty on create).
func runRemote(ctx context.Context, lg *logger, line string, in resource.PropertyMap, prev outputs) (outputs, error) {
	c, err := parseConnection(in)
	if err != nil {
		return outputs{}, err
	}
	client, err := c.dial(ctx, lg)
	if err != nil {
		return outputs{}, err
	}
	defer func() { _ = client.Close() }()
	session, err := client.NewSession()
	if err != nil {
		return outputs{}, err
	}
	defer func() { _ = session.Close() }()

	if v, ok := in["environment"]; ok && v.IsObject() {
		env := v.ObjectValue()
		keys := make([]string, 0, len(env))
		for k := range env {
			keys = append(keys, string(k))
		}
		sort.Strings(keys) // upstream ranges over a Go map: the order (and so which refusal is reported) varies
		for _, k := range keys {
			if e := env[resource.PropertyKey(k)]; e.IsString() {
				if err := session.Setenv(k, e.StringValue()); err != nil {
					// A refused environment variable fails the command, logged as an error.
					lg.log(diag.Error, setenvMessage(k))
					return outputs{}, fmt.Errorf("could not set environment variable %q: %w", k, err)
				}
			}
		}
	}
	if addPreviousOutputInEnv(in) {
		// Previous outputs are set optimistically: a refusal is a warning and the command still runs.
		for _, kv := range [][2]string{{envStdout, prev.stdout}, {envStderr, prev.stderr}} {
			if kv[1] == "" {
				continue
			}
			if err := session.Setenv(kv[0], kv[1]); err != nil {
				lg.log(diag.Warning, setenvMessage(kv[0]))
			}
		}
	}
	if s := str(in, "stdin"); s != "" {
		session.Stdin = strings.NewReader(s)
	}
	capt := newCapture(ctx, lg, loggingOf(in))
	session.Stdout = capt.stdoutWriter()
	session.Stderr = capt.stderrWriter()

	// Upstream runs session.Run(cmd) and never looks at the context again: a cancelled deploy (pulumi
	// up killed, or interrupted) leaves the remote command running to its end, no signal sent, its
	// output still read. Release procedures must live with that, so this stand-in does the same.
	err = session.Run(line)
	capt.finish()
	if err != nil {
		return outputs{}, fmt.Errorf("%w: running %q:\n%s", err, line, capt.combined.String())
	}
	return capt.outputs(), nil
}
