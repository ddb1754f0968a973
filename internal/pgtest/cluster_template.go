package pgtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// clusterTemplateFormat changes whenever the template's content would
// change for the same binaries (initdb arguments, layout), so that old
// cache entries are never reused.
const clusterTemplateFormat = "pgstrict-initdb-v1"

// clusterInitdbArgs are the initdb arguments after -D <dir>.
var clusterInitdbArgs = []string{
	"-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
}

// clusterDefaultTemplateCache returns <user cache dir>/pgstrict/pgtest-initdb,
// or "" when the platform has no user cache directory.
func clusterDefaultTemplateCache() string {
	base, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(base, "pgstrict", "pgtest-initdb")
}

// clusterTemplateKey names the cache entry of the initdb output of the
// binaries in binDir: it changes when the binaries are replaced (size or
// modification time), when the owner changes (root runs initdb as
// postgres) and when clusterTemplateFormat changes.
func clusterTemplateKey(binDir string, asPostgresUser bool) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%t\x00%s\x00", clusterTemplateFormat, binDir, asPostgresUser,
		strings.Join(clusterInitdbArgs, " "))
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(binDir, name))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00", name, fi.Size(), fi.ModTime().UnixNano())
	}
	return hex.EncodeToString(h.Sum(nil)[:12]), nil
}

// initData fills l.dataDir with a fresh, shut-down cluster: a copy of the
// cached initdb output when there is one, else initdb itself, whose output
// is then stored in the cache for the next cluster. cacheDir "" disables
// the cache. A cache that cannot be written is ignored. It reports whether
// the data came from the cache.
func (l *clusterLocal) initData(ctx context.Context, cacheDir string) (fromCache bool, err error) {
	var entry string
	if cacheDir != "" {
		if key, err := clusterTemplateKey(l.binDir, l.runAs != nil); err == nil {
			entry = filepath.Join(cacheDir, key)
		}
	}
	if entry != "" {
		if _, err := os.Stat(filepath.Join(entry, "PG_VERSION")); err == nil {
			if err := clusterCopyTree(entry, l.dataDir); err != nil {
				return false, fmt.Errorf("pgtest: copy cached initdb output %s: %w", entry, err)
			}
			return true, nil
		}
	}
	args := append([]string{"-D", l.dataDir}, clusterInitdbArgs...)
	if out, err := l.run(ctx, "initdb", args...); err != nil {
		return false, fmt.Errorf("pgtest: initdb: %w\n%s", err, clusterTail(out, clusterLogTailLines))
	}
	if entry != "" {
		clusterStoreTemplate(l.dataDir, cacheDir, entry)
	}
	return false, nil
}

// clusterStoreTemplate copies a fresh data directory into the cache under
// entry. It copies into a temporary sibling and renames it, so a reader
// never sees a partial entry; when another process stored the same entry
// first, that one is kept. Failures only mean no cache.
func clusterStoreTemplate(dataDir, cacheDir, entry string) {
	if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		return
	}
	tmp, err := os.MkdirTemp(cacheDir, "tmp-")
	if err != nil {
		return
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	staged := filepath.Join(tmp, "data")
	if err := clusterCopyTree(dataDir, staged); err != nil {
		return
	}
	_ = os.Rename(staged, entry) // fails harmlessly when entry exists
}

// clusterCopyTree copies the directory src to dst (which must not exist),
// keeping permission bits and, when we are root, owners. Only directories
// and regular files are expected in a fresh data directory; anything else
// is an error.
func clusterCopyTree(src, dst string) error {
	root := os.Geteuid() == 0
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, walkErr error) error {
		if walkErr != nil {
			return walkErr
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.Mkdir(target, info.Mode().Perm()); err != nil {
				return err
			}
		case info.Mode().IsRegular():
			if err := clusterCopyFile(path, target, info.Mode().Perm()); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unexpected file type %s at %s", info.Mode().Type(), rel)
		}
		// Apply the mode explicitly: the umask narrowed Mkdir and OpenFile.
		if err := os.Chmod(target, info.Mode().Perm()); err != nil {
			return err
		}
		if root {
			st, ok := info.Sys().(*syscall.Stat_t)
			if !ok {
				return errors.New("no owner information")
			}
			if err := os.Lchown(target, int(st.Uid), int(st.Gid)); err != nil {
				return fmt.Errorf("chown %s to %s:%s: %w", rel, strconv.Itoa(int(st.Uid)), strconv.Itoa(int(st.Gid)), err)
			}
		}
		return nil
	})
}

// clusterCopyFile copies one regular file.
func clusterCopyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}
