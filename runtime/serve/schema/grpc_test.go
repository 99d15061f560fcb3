package schema

import (
	"reflect"
	"strings"
	"testing"
)

func TestGRPCOptions(t *testing.T) {
	for _, tc := range []struct {
		body    string
		want    GRPCOptions
		problem string
	}{
		{`{"applications":[]}`, GRPCOptions{Port: 9000}, ""},
		{`{"grpc_options":{"port":9001,"grpc_servicer_functions":["a_pb2_grpc.add_GreeterServicer_to_server","pkg.Svc"],"request_timeout_s":1.5},"applications":[]}`,
			GRPCOptions{Port: 9001, GRPCServicerFunctions: []string{"a_pb2_grpc.add_GreeterServicer_to_server", "pkg.Svc"}, RequestTimeoutS: 1.5}, ""},
		{`{"grpc_options":{"grpc_servicer_functions":[],"request_timeout_s":null},"applications":[]}`, GRPCOptions{Port: 9000}, ""},
		{`{"grpc_options":{"port":-1},"applications":[]}`, GRPCOptions{Port: 9000}, "grpc_options.port"},
		{`{"grpc_options":{"port":1.5},"applications":[]}`, GRPCOptions{Port: 9000}, "grpc_options.port"},
		{`{"grpc_options":{"grpc_servicer_functions":"x"},"applications":[]}`, GRPCOptions{Port: 9000}, "must be a list"},
		{`{"grpc_options":{"grpc_servicer_functions":[1, ""]},"applications":[]}`, GRPCOptions{Port: 9000}, "grpc_servicer_functions[0]"},
		{`{"grpc_options":{"request_timeout_s":0},"applications":[]}`, GRPCOptions{Port: 9000}, "request_timeout_s"},
		{`{"grpc_options":{"bogus":1},"applications":[]}`, GRPCOptions{Port: 9000}, "extra fields"},
	} {
		s, err := Decode([]byte(tc.body))
		if err != nil {
			t.Fatalf("%s: %v", tc.body, err)
		}
		got, _ := s.GRPC()
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.body, got, tc.want)
		}
		err = Validate(s)
		if (err != nil) != (tc.problem != "") || err != nil && !strings.Contains(err.Error(), tc.problem) {
			t.Errorf("%s: Validate = %v, want a problem with %q", tc.body, err, tc.problem)
		}
	}
}
