package operator

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/go-logr/logr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// LogOptions are KubeRay's logging flags (Helm values logging.stdoutEncoder,
// fileEncoder, baseDir/fileName), on top of controller-runtime's --zap-*
// flags, which keep setting the level and development mode.
type LogOptions struct {
	// StdoutEncoder is json or console; "" keeps zap's choice (json, or
	// console with --zap-devel).
	StdoutEncoder string
	// FilePath, when set, also writes every log line to this file.
	FilePath string
	// FileEncoder is json (default) or console.
	FileEncoder string
	// FileMaxBytes rotates the file to FilePath+".1" when it would grow past
	// this, so the log takes at most twice this on disk (the chart mounts an
	// emptyDir there, and a full emptyDir gets the pod evicted).
	FileMaxBytes int64
}

// DefaultLogFileMaxBytes is --log-file-max-bytes' default.
const DefaultLogFileMaxBytes = 100 << 20

func encoderFunc(name string) (crzap.NewEncoderFunc, error) {
	switch name {
	case "json":
		return func(opts ...crzap.EncoderConfigOption) zapcore.Encoder {
			cfg := zap.NewProductionEncoderConfig()
			for _, o := range opts {
				o(&cfg)
			}
			return zapcore.NewJSONEncoder(cfg)
		}, nil
	case "console":
		return func(opts ...crzap.EncoderConfigOption) zapcore.Encoder {
			cfg := zap.NewDevelopmentEncoderConfig()
			for _, o := range opts {
				o(&cfg)
			}
			return zapcore.NewConsoleEncoder(cfg)
		}, nil
	}
	return nil, fmt.Errorf("encoder %q: want json or console", name)
}

// NewLogger builds the operator's logger from the --zap-* options and
// KubeRay's logging options. The file gets the same lines as stderr (same
// level), in its own encoding. The closer closes the file.
func NewLogger(zo crzap.Options, lo LogOptions) (logr.Logger, io.Closer, error) {
	if lo.StdoutEncoder != "" {
		enc, err := encoderFunc(lo.StdoutEncoder)
		if err != nil {
			return logr.Logger{}, nil, fmt.Errorf("--log-stdout-encoder: %w", err)
		}
		zo.NewEncoder = enc
	}
	if lo.FilePath == "" {
		return crzap.New(crzap.UseFlagOptions(&zo)), nopCloser{}, nil
	}
	name := lo.FileEncoder
	if name == "" {
		name = "json"
	}
	newEnc, err := encoderFunc(name)
	if err != nil {
		return logr.Logger{}, nil, fmt.Errorf("--log-file-encoder: %w", err)
	}
	limit := lo.FileMaxBytes
	if limit <= 0 {
		limit = DefaultLogFileMaxBytes
	}
	f, err := openRotatingFile(lo.FilePath, limit)
	if err != nil {
		return logr.Logger{}, nil, fmt.Errorf("--log-file-path: %w", err)
	}
	fileEnc := newEnc(func(c *zapcore.EncoderConfig) { c.EncodeTime = zapcore.ISO8601TimeEncoder })
	zo.ZapOpts = append(zo.ZapOpts, zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		// The file core logs what the stderr core logs: its level decides.
		return zapcore.NewTee(c, zapcore.NewCore(fileEnc, zapcore.AddSync(f), zap.LevelEnablerFunc(c.Enabled)))
	}))
	return crzap.New(crzap.UseFlagOptions(&zo)), f, nil
}

// rotatingFile is an append-only log file that moves itself to path.1 (the
// previous .1 is dropped) before a write would take it past limit bytes.
type rotatingFile struct {
	mu    sync.Mutex
	path  string
	limit int64
	f     *os.File
	size  int64
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

func openRotatingFile(path string, limit int64) (*rotatingFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	r := &rotatingFile{path: path, limit: limit}
	return r, r.open()
}

func (r *rotatingFile) open() error {
	f, err := os.OpenFile(r.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return err
	}
	r.f, r.size = f, st.Size()
	return nil
}

func (r *rotatingFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.size > 0 && r.size+int64(len(p)) > r.limit {
		if err := r.f.Close(); err != nil {
			return 0, err
		}
		if err := os.Rename(r.path, r.path+".1"); err != nil {
			return 0, err
		}
		if err := r.open(); err != nil {
			return 0, err
		}
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	return n, err
}

func (r *rotatingFile) Sync() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.f.Sync()
}

func (r *rotatingFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.f.Close()
}
