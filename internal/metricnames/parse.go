package metricnames

import (
	"bufio"
	"fmt"
	"sort"
	"strings"
)

// Families is a scrape: metric families by name.
type Families map[string]*Family

// Family is one metric family of a scrape.
type Family struct {
	Name, Type string
	Series     []Series
}

// Series is one sample line: its name (a histogram's carry _bucket, _sum
// or _count) and labels.
type Series struct {
	Name   string
	Labels map[string]string
	Value  string
}

// LabelNames is the series' label names, sorted.
func (s Series) LabelNames() []string {
	out := make([]string, 0, len(s.Labels))
	for k := range s.Labels {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Parse reads Prometheus' text exposition format (version 0.0.4), which
// every goray node and the operator serve.
func Parse(text string) (Families, error) {
	fams := Families{}
	var cur *Family
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# TYPE "):
			f := strings.Fields(line)
			if len(f) != 4 {
				return nil, fmt.Errorf("line %d: %q", n, line)
			}
			cur = &Family{Name: f[2], Type: f[3]}
			fams[cur.Name] = cur
		case line == "" || strings.HasPrefix(line, "#"):
		default:
			s, err := parseSample(line)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			if cur == nil || !strings.HasPrefix(s.Name, cur.Name) {
				return nil, fmt.Errorf("line %d: sample %s outside its family", n, s.Name)
			}
			cur.Series = append(cur.Series, s)
		}
	}
	return fams, sc.Err()
}

func parseSample(line string) (Series, error) {
	s := Series{Labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return s, fmt.Errorf("no value in %q", line)
	}
	s.Name = line[:i]
	rest := line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			rest = strings.TrimLeft(rest, ", ")
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.Index(rest, `="`)
			if eq < 0 {
				return s, fmt.Errorf("bad labels in %q", line)
			}
			name := rest[:eq]
			rest = rest[eq+2:]
			var v strings.Builder
			for {
				if rest == "" {
					return s, fmt.Errorf("unterminated label value in %q", line)
				}
				c := rest[0]
				rest = rest[1:]
				if c == '"' {
					break
				}
				if c == '\\' && rest != "" {
					switch rest[0] {
					case 'n':
						c = '\n'
					default:
						c = rest[0]
					}
					rest = rest[1:]
				}
				v.WriteByte(c)
			}
			s.Labels[name] = v.String()
		}
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return s, fmt.Errorf("no value in %q", line)
	}
	s.Value = f[0]
	return s, nil
}
