package raystart

import (
	"maps"
	"testing"
)

func TestValidate(t *testing.T) {
	for _, ok := range []map[string]string{
		nil,
		{"num-cpus": "0.5", "num-gpus": `"1"`, "memory": "2147483648", "object-store-memory": "'100'"},
		{"resources": `"{\"resource1\": 2, \"resource2\": 3}"`},
		{"resources": `{"TPU": 4}`, "port": "6380", "dashboard-port": "'8266'", "metrics-export-port": "0"},
		{"block": "true", "no-monitor": "", "verbose": "False", "dashboard-host": "'0.0.0.0'"},
		{"num-cpus": "$CPUS", "resources": "${RES}", "redis-password": "$REDIS_PASSWORD"},
		{"anything": "goes", "include-dashboard": "false"},
		{"labels": "zone=a,disk=ssd"}, {"labels": `'{"zone": "a"}'`}, {"labels": "zone=$ZONE"},
	} {
		if err := Validate(ok); err != nil {
			t.Errorf("Validate(%v): %v", ok, err)
		}
	}
	for _, tc := range []struct {
		params map[string]string
		want   string
	}{
		{map[string]string{"num-cpus": "lots"}, `rayStartParams.num-cpus: "lots" is not a non-negative number`},
		{map[string]string{"num-gpus": "-1"}, `rayStartParams.num-gpus: "-1" is not a non-negative number`},
		{map[string]string{"memory": "1Gi"}, `rayStartParams.memory: "1Gi" is not a whole number of bytes`},
		{map[string]string{"port": "70000"}, `rayStartParams.port: "70000" is not a port number`},
		{map[string]string{"resources": `{"TPU": "4"}`}, `rayStartParams.resources: "{\"TPU\": \"4\"}" is not a JSON object of numbers, e.g. '"{\"TPU\": 4}"'`},
		{map[string]string{"resources": `'{"TPU": 4'`}, `rayStartParams.resources: "'{\"TPU\": 4'" is not a JSON object of numbers, e.g. '"{\"TPU\": 4}"'`},
		{map[string]string{"block": "yes"}, `rayStartParams.block: "yes" is a switch: give true, false or nothing`},
		{map[string]string{"labels": "zone"}, `rayStartParams.labels: "zone" is not labels: labels: "zone" is not key=value`},
		{map[string]string{"node-name": "a b", "z": "1"}, `rayStartParams.node-name: "a b" is not one shell word: unquoted blank at 1: the shell would split this into several words; quote it`},
	} {
		err := Validate(tc.params)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Validate(%v) = %v, want %s", tc.params, err, tc.want)
		}
	}
}

func TestResourcesAndNumbers(t *testing.T) {
	p := map[string]string{"resources": `"{\"resource1\": 2, \"resource2\": 3}"`, "num-cpus": `'1.5'`, "port": "$(P)"}
	res, ok, err := Resources(p)
	if err != nil || !ok || !maps.Equal(res, map[string]float64{"resource1": 2, "resource2": 3}) {
		t.Errorf("Resources = %v, %v, %v", res, ok, err)
	}
	if n, ok, err := Number(p, "num-cpus"); err != nil || !ok || n != 1.5 {
		t.Errorf("Number = %v, %v, %v", n, ok, err)
	}
	if _, ok, err := Number(p, "num-gpus"); err != nil || ok {
		t.Errorf("Number of a missing key = %v, %v", ok, err)
	}
	if _, _, err := Port(p, "port"); err == nil || err.Error() != `rayStartParams.port: "$(P)" refers to $P, which is only known inside the pod` {
		t.Errorf("Port of a reference: %v", err)
	}
}
