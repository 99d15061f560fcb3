package schema

import (
	"fmt"
	"math"
)

// DefaultGRPCPort is grpc_options.port's default (Ray's).
const DefaultGRPCPort = 9000

// MaxGRPCServicerFunctions bounds grpc_options.grpc_servicer_functions, and
// MaxServicerFunctionBytes each entry.
const (
	MaxGRPCServicerFunctions = 256
	MaxServicerFunctionBytes = 1024
)

// GRPCOptions is what the serve config's grpc_options says (Ray's
// gRPCOptionsSchema): the port (shown in the status; the proxies listen
// where goray start --serve-grpc-port says), the servicer functions (which
// gRPC services the proxies pass on; none: any) and the calls' timeout.
type GRPCOptions struct {
	Port                  int
	GRPCServicerFunctions []string
	// RequestTimeoutS is 0 for none.
	RequestTimeoutS float64
}

// GRPC reads grpc_options, with Ray's defaults for what it leaves out,
// and lists what is wrong with it.
func (s *ServeDeploySchema) GRPC() (GRPCOptions, []string) {
	o := GRPCOptions{Port: DefaultGRPCPort}
	var problems []string
	add := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	for k, v := range s.GRPCOptions {
		switch k {
		case "port":
			f, ok := v.(float64)
			if !ok || f != math.Trunc(f) || f < 0 || f > 65535 {
				add("grpc_options.port: must be a port number, got %s", clipJSON(v))
				continue
			}
			o.Port = int(f)
		case "grpc_servicer_functions":
			list, ok := v.([]any)
			if !ok && v != nil {
				add("grpc_options.grpc_servicer_functions: must be a list of strings, got %s", clipJSON(v))
				continue
			}
			if len(list) > MaxGRPCServicerFunctions {
				add("grpc_options.grpc_servicer_functions: %d entries, more than the limit of %d", len(list), MaxGRPCServicerFunctions)
				continue
			}
			for i, e := range list {
				str, ok := e.(string)
				switch {
				case !ok:
					add("grpc_options.grpc_servicer_functions[%d]: must be a string, got %s", i, clipJSON(e))
				case str == "":
					add("grpc_options.grpc_servicer_functions[%d]: must not be empty", i)
				case len(str) > MaxServicerFunctionBytes:
					add("grpc_options.grpc_servicer_functions[%d]: %d bytes, more than the limit of %d", i, len(str), MaxServicerFunctionBytes)
				default:
					o.GRPCServicerFunctions = append(o.GRPCServicerFunctions, str)
				}
			}
		case "request_timeout_s":
			if v == nil {
				continue
			}
			f, ok := v.(float64)
			if !ok || !(f > 0 && f <= MaxDurationS) {
				add("grpc_options.request_timeout_s: must be greater than 0 and at most %g, got %s", MaxDurationS, clipJSON(v))
				continue
			}
			o.RequestTimeoutS = f
		default:
			add("grpc_options.%s: extra fields not permitted", quoteClip(k, 64))
		}
	}
	return o, problems
}

// clipJSON shows a decoded JSON value in a message, clipped.
func clipJSON(v any) string { return quoteClip(fmt.Sprintf("%v", v), 64) }
