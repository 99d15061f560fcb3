package jobs

import (
	"io"
	"unicode/utf8"
)

// writeLogsJSON writes {"logs":"<r as a JSON string>"} and a newline, byte
// for byte what json.NewEncoder(w).Encode(api.LogsResponse{Logs: all of r})
// writes, holding a fixed amount of memory whatever r's size.
func writeLogsJSON(w io.Writer, r io.Reader) error {
	if _, err := io.WriteString(w, `{"logs":"`); err != nil {
		return err
	}
	sw := newJSONStringWriter(w)
	buf := make([]byte, jsonChunk)
	if _, err := io.CopyBuffer(sw, r, buf); err != nil {
		return err
	}
	if err := sw.Close(); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\"}\n")
	return err
}

// jsonChunk is the size of the encoder's input and output batches.
const jsonChunk = 32 << 10

// jsonStringWriter encodes what is written to it as the inside of a JSON
// string (without the quotes) exactly as encoding/json does with HTML
// escaping on: '"', '\\' and control characters escaped (\b \f \n \r \t
// short), '<' '>' '&' U+2028 U+2029 as \uXXXX, and each byte of invalid
// UTF-8 as \ufffd. A multi-byte character split across writes is kept
// until it is whole; Close encodes what is left.
type jsonStringWriter struct {
	w   io.Writer
	in  []byte // bytes of an incomplete character from the last write (< utf8.UTFMax)
	out []byte
	err error
}

func newJSONStringWriter(w io.Writer) *jsonStringWriter {
	return &jsonStringWriter{w: w, in: make([]byte, 0, utf8.UTFMax), out: make([]byte, 0, jsonChunk+64)}
}

const hexDigits = "0123456789abcdef"

// safe is encoding/json's htmlSafeSet: the ASCII bytes written as they are.
var safe = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
	}
	return t
}()

func (j *jsonStringWriter) Write(p []byte) (int, error) {
	if j.err != nil {
		return 0, j.err
	}
	n := len(p)
	// First complete the character held from the last write, with as few
	// bytes of p as it needs; an invalid one encodes as \ufffd for its
	// first byte and the rest are input again.
	for len(j.in) > 0 && len(p) > 0 {
		for len(p) > 0 && !utf8.FullRune(j.in) {
			j.in = append(j.in, p[0])
			p = p[1:]
		}
		if !utf8.FullRune(j.in) {
			break
		}
		used := j.encode(j.in, false)
		j.in = j.in[:copy(j.in, j.in[used:])]
	}
	if len(j.in) == 0 {
		used := j.encode(p, false)
		j.in = append(j.in, p[used:]...)
	}
	if err := j.flush(jsonChunk); err != nil {
		return 0, err
	}
	return n, nil
}

// Close encodes the bytes held back (an incomplete character: \ufffd each)
// and writes out everything.
func (j *jsonStringWriter) Close() error {
	if j.err != nil {
		return j.err
	}
	j.encode(j.in, true)
	j.in = j.in[:0]
	return j.flush(0)
}

// flush writes the output once it holds more than limit bytes.
func (j *jsonStringWriter) flush(limit int) error {
	if j.err != nil {
		return j.err
	}
	if len(j.out) <= limit {
		return nil
	}
	if _, err := j.w.Write(j.out); err != nil {
		j.err = err
		return err
	}
	j.out = j.out[:0]
	return nil
}

// encode appends src's encoding to the output and returns how many bytes
// of src it encoded: all of them when final, else all but an incomplete
// character at the end. It writes the output out as it fills.
func (j *jsonStringWriter) encode(src []byte, final bool) int {
	start := 0
	i := 0
	for i < len(src) {
		if len(j.out)+i-start >= jsonChunk {
			j.out = append(j.out, src[start:i]...)
			start = i
			if j.flush(0) != nil {
				return len(src)
			}
		}
		b := src[i]
		if b < utf8.RuneSelf {
			if safe[b] {
				i++
				continue
			}
			j.out = append(j.out, src[start:i]...)
			switch b {
			case '\\', '"':
				j.out = append(j.out, '\\', b)
			case '\b':
				j.out = append(j.out, '\\', 'b')
			case '\f':
				j.out = append(j.out, '\\', 'f')
			case '\n':
				j.out = append(j.out, '\\', 'n')
			case '\r':
				j.out = append(j.out, '\\', 'r')
			case '\t':
				j.out = append(j.out, '\\', 't')
			default:
				j.out = append(j.out, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		if !final && !utf8.FullRune(src[i:]) {
			j.out = append(j.out, src[start:i]...)
			return i
		}
		c, size := utf8.DecodeRune(src[i:])
		if c == utf8.RuneError && size == 1 {
			j.out = append(j.out, src[start:i]...)
			j.out = append(j.out, `\ufffd`...)
			i++
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			j.out = append(j.out, src[start:i]...)
			j.out = append(j.out, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	j.out = append(j.out, src[start:]...)
	return len(src)
}
