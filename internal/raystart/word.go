package raystart

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Word is a rayStartParams value after the shell: the one word `ray start`
// would receive.
type Word struct {
	// text is the word, with each environment reference written $(NAME).
	text string
	// arg is the word as a container argument: references as $(NAME) for the
	// kubelet to expand, every other '$' doubled so that the kubelet keeps it.
	arg  string
	refs []string
}

// String is the word; an environment reference appears as $(NAME).
func (w Word) String() string { return w.text }

// Arg is the word in a container's command, where the kubelet expands $(NAME).
func (w Word) Arg() string { return w.arg }

// Refs are the environment variables the word refers to, in order: its value
// is only known inside the pod.
func (w Word) Refs() []string { return w.refs }

// Literal is a word without references.
func Literal(s string) Word { return Word{text: s, arg: strings.ReplaceAll(s, "$", "$$")} }

// Parse reads raw as /bin/sh reads the text after `--key=` in KubeRay's
// `ray start` line: single and double quotes, backslash escapes, and $NAME,
// ${NAME} and the kubelet's $(NAME) as references to the container's
// environment. Surrounding blanks (space, tab, newline) are dropped; what
// the shell would run or split (unquoted blanks, ; | & < > ( ), backticks,
// $(command), $1, $?, ${NAME:-x}) is an error, as is an unterminated quote.
// Globs, braces and ~ are kept as they are (a shell would rarely expand them
// here and goray does not). A value that is a JSON object as it stands
// ({"TPU": 4}) is taken as it is: the shell would strip its quotes and split
// it, and no user means that.
func Parse(raw string) (Word, error) {
	s := strings.Trim(raw, " \t\n")
	if strings.HasPrefix(s, "{") && json.Valid([]byte(s)) {
		return Literal(s), nil
	}
	p := parser{s: s}
	if err := p.run(); err != nil {
		return Word{}, err
	}
	return Word{text: p.text.String(), arg: p.arg.String(), refs: p.refs}, nil
}

type parser struct {
	s         string
	i         int
	text, arg strings.Builder
	refs      []string
}

func (p *parser) lit(s string) {
	p.text.WriteString(s)
	p.arg.WriteString(strings.ReplaceAll(s, "$", "$$"))
}

func (p *parser) ref(name string) {
	p.text.WriteString("$(" + name + ")")
	p.arg.WriteString("$(" + name + ")")
	p.refs = append(p.refs, name)
}

func (p *parser) run() error {
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '\'':
			end := strings.IndexByte(p.s[p.i+1:], '\'')
			if end < 0 {
				return errors.New("unterminated single quote")
			}
			p.lit(p.s[p.i+1 : p.i+1+end])
			p.i += end + 2
		case c == '"':
			if err := p.doubleQuoted(); err != nil {
				return err
			}
		case c == '\\':
			if p.i+1 >= len(p.s) {
				return errors.New("a backslash at the end escapes nothing")
			}
			if p.s[p.i+1] != '\n' { // backslash-newline continues the line
				p.lit(p.s[p.i+1 : p.i+2])
			}
			p.i += 2
		case c == '$':
			if err := p.dollar(); err != nil {
				return err
			}
		case c == ' ' || c == '\t' || c == '\n':
			return fmt.Errorf("unquoted blank at %d: the shell would split this into several words; quote it", p.i)
		case c == '`':
			return errors.New("command substitution (`) is not run")
		case strings.IndexByte(";|&<>()", c) >= 0:
			return fmt.Errorf("unquoted %q is a shell operator; quote it", c)
		default:
			p.lit(p.s[p.i : p.i+1])
			p.i++
		}
	}
	return nil
}

// doubleQuoted reads "...": a backslash escapes only $ ` " \ and newline,
// and $ references are expanded.
func (p *parser) doubleQuoted() error {
	p.i++
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch c {
		case '"':
			p.i++
			return nil
		case '\\':
			if p.i+1 < len(p.s) && strings.IndexByte("$`\"\\\n", p.s[p.i+1]) >= 0 {
				if p.s[p.i+1] != '\n' {
					p.lit(p.s[p.i+1 : p.i+2])
				}
				p.i += 2
				continue
			}
			p.lit(`\`)
			p.i++
		case '$':
			if err := p.dollar(); err != nil {
				return err
			}
		case '`':
			return errors.New("command substitution (`) is not run")
		default:
			p.lit(p.s[p.i : p.i+1])
			p.i++
		}
	}
	return errors.New("unterminated double quote")
}

// dollar reads a $ at p.i: $NAME, ${NAME} or $(NAME) is a reference; a $
// followed by nothing a shell expands is itself.
func (p *parser) dollar() error {
	rest := p.s[p.i+1:]
	switch {
	case strings.HasPrefix(rest, "("):
		end := strings.IndexByte(rest, ')')
		if end < 0 || !isEnvName(rest[1:end]) {
			return errors.New("command substitution $(...) is not run; only $(NAME) references to the container's environment are")
		}
		p.ref(rest[1:end])
		p.i += end + 2
	case strings.HasPrefix(rest, "{"):
		end := strings.IndexByte(rest, '}')
		if end < 0 || !isShellName(rest[1:end]) {
			return errors.New("only ${NAME} parameter expansions are supported")
		}
		p.ref(rest[1:end])
		p.i += end + 2
	case len(rest) > 0 && isNameStart(rest[0]):
		n := 1
		for n < len(rest) && isNameChar(rest[n]) {
			n++
		}
		p.ref(rest[:n])
		p.i += n + 1
	case len(rest) > 0 && strings.IndexByte("0123456789@*#?-$!'", rest[0]) >= 0:
		return fmt.Errorf("$%c is a shell parameter or quoting goray does not expand", rest[0])
	default:
		p.lit("$")
		p.i++
	}
	return nil
}

func isNameStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isNameChar(c byte) bool  { return isNameStart(c) || c >= '0' && c <= '9' }

func isShellName(s string) bool {
	if s == "" || !isNameStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isNameChar(s[i]) {
			return false
		}
	}
	return true
}

// isEnvName is what a Kubernetes env var may be called (C_IDENTIFIER, dots
// and dashes), the names the kubelet expands in $(NAME).
func isEnvName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameChar(s[i]) && s[i] != '.' && s[i] != '-' {
			return false
		}
	}
	return true
}
