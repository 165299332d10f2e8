package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/pkg/sftp"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// copySource is CopyToRemote's source: a text asset, or a local path (path asset or path archive).
type copySource struct {
	text   *string
	path   string
	hash   string
	isText bool
}

// sourceOf reads the source input; only text assets, path assets and path archives are accepted upstream.
func sourceOf(in resource.PropertyMap) (copySource, error) {
	src, ok := in["source"]
	if !ok {
		return copySource{}, fmt.Errorf("source is required")
	}
	switch {
	case src.IsAsset():
		a := src.AssetValue()
		if a.IsText() {
			t := a.Text
			return copySource{text: &t, hash: a.Hash, isText: true}, nil
		}
		if a.IsPath() {
			return copySource{path: a.Path, hash: a.Hash}, nil
		}
		return copySource{}, fmt.Errorf("asset must be a path-based file asset or a text asset")
	case src.IsArchive():
		a := src.ArchiveValue()
		if a.IsPath() {
			return copySource{path: a.Path, hash: a.Hash}, nil
		}
		return copySource{}, fmt.Errorf("archive must be a path to a file or directory")
	}
	return copySource{}, fmt.Errorf("either asset or archive must be set")
}

// copyToRemote dials, opens SFTP and copies the source to remotePath, like upstream's copyToRemote.
func copyToRemote(ctx context.Context, lg *logger, in resource.PropertyMap) error {
	src, err := sourceOf(in)
	if err != nil {
		return err
	}
	remotePath := str(in, "remotePath")
	c, err := parseConnection(in)
	if err != nil {
		return err
	}
	client, err := c.dial(ctx, lg)
	if err != nil {
		return err
	}
	defer func() { _ = client.Close() }()
	sc, err := sftp.NewClient(client, sftp.UseConcurrentWrites(true))
	if err != nil {
		return err
	}
	defer func() { _ = sc.Close() }()
	if src.isText {
		return copyText(sc, *src.text, remotePath)
	}
	return copyPath(sc, src.path, remotePath)
}

// remoteStat returns nil, nil when the path does not exist.
func remoteStat(sc *sftp.Client, p string) (fs.FileInfo, error) {
	info, err := sc.Stat(p)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("failed to stat remote path %s: %w", p, err)
	}
	if err != nil {
		return nil, nil
	}
	return info, nil
}

// copyText writes a text asset to the file remotePath, creating its parent directories.
func copyText(sc *sftp.Client, content, dest string) error {
	st, err := remoteStat(sc, dest)
	if err != nil {
		return err
	}
	if st != nil && st.IsDir() {
		return fmt.Errorf("remote path %s is a directory; when using a text asset, remotePath must be a file path", dest)
	}
	if err := sc.MkdirAll(path.Dir(dest)); err != nil {
		return fmt.Errorf("failed to create parent directories for %s: %w", dest, err)
	}
	f, err := sc.Create(dest)
	if err != nil {
		return fmt.Errorf("failed to create remote file %s: %w", dest, err)
	}
	defer func() { _ = f.Close() }()
	if _, err := f.Write([]byte(content)); err != nil {
		return fmt.Errorf("failed to write text content to remote path %s: %w", dest, err)
	}
	return nil
}

// copyPath copies a local file or directory. A file goes into dest if dest is a directory, else
// to dest; a directory "d" goes to dest/d, and "d/" puts d's entries into dest (as upstream).
func copyPath(sc *sftp.Client, source, dest string) error {
	info, err := os.Stat(source)
	if err != nil {
		return err
	}
	st, err := remoteStat(sc, dest)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		if st != nil && st.IsDir() {
			dest = path.Join(dest, filepath.Base(source))
		} else if st == nil {
			if err := sc.MkdirAll(path.Dir(dest)); err != nil {
				return fmt.Errorf("failed to create parent directories for %s: %w", dest, err)
			}
		}
		return copyFile(sc, source, dest)
	}
	if st == nil {
		if err := sc.MkdirAll(dest); err != nil {
			return fmt.Errorf("failed to create remote directory %s: %w", dest, err)
		}
	}
	if !strings.HasSuffix(source, "/") {
		dest = path.Join(dest, filepath.Base(source))
		sub, err := remoteStat(sc, dest)
		if err != nil {
			return err
		}
		if sub != nil && !sub.IsDir() {
			return fmt.Errorf("remote path %s exists but is not a directory", dest)
		}
		if sub == nil {
			if err := sc.Mkdir(dest); err != nil {
				return fmt.Errorf("failed to create remote directory %s: %w", dest, err)
			}
		}
	}
	return fs.WalkDir(os.DirFS(source), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := path.Join(dest, filepath.ToSlash(p))
		if !d.IsDir() {
			return copyFile(sc, filepath.Join(source, p), target)
		}
		st, err := remoteStat(sc, target)
		if err != nil {
			return err
		}
		if st == nil {
			if err := sc.Mkdir(target); err != nil {
				return fmt.Errorf("failed to create remote directory %s: %w", target, err)
			}
		} else if !st.IsDir() {
			return fmt.Errorf("remote path %s exists but is not a directory", target)
		}
		return nil
	})
}

func copyFile(sc *sftp.Client, src, dst string) error {
	local, err := os.Open(src) // #nosec G304 -- copying the user's chosen file is the resource's purpose
	if err != nil {
		return err
	}
	defer func() { _ = local.Close() }()
	remote, err := sc.Create(dst)
	if err != nil {
		return fmt.Errorf("failed to create remote file %s: %w", dst, err)
	}
	defer func() { _ = remote.Close() }()
	if _, err := remote.ReadFrom(local); err != nil {
		return fmt.Errorf("failed to copy file %s to remote path %s: %w", src, dst, err)
	}
	return nil
}

// needCopy is upstream's Update rule: copy again only when the source hash or remotePath changed.
func needCopy(olds, news resource.PropertyMap) bool {
	o, errO := sourceOf(olds)
	n, errN := sourceOf(news)
	if errO != nil || errN != nil {
		return true
	}
	return o.hash != n.hash || str(olds, "remotePath") != str(news, "remotePath")
}
