package core

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

func TestParseRefJSON(t *testing.T) {
	good := `{"goray_ref":"0a1b2c3d4e5f0000000000000000002a","owner":"127.0.0.1:4000"}`
	if id, owner, err := ParseRefJSON([]byte(good)); err != nil || id != "0a1b2c3d4e5f0000000000000000002a" || owner != "127.0.0.1:4000" {
		t.Fatalf("good: %q %q %v", id, owner, err)
	}
	b, err := MarshalRefJSON("0a1b2c3d4e5f0000000000000000002ag3", "[::1]:80")
	if err != nil {
		t.Fatal(err)
	}
	if id, owner, err := ParseRefJSON(b); err != nil || id != "0a1b2c3d4e5f0000000000000000002ag3" || owner != "[::1]:80" {
		t.Fatalf("round trip of %s: %q %q %v", b, id, owner, err)
	}
	for _, bad := range []string{
		``,
		`{}`,
		`[]`,
		`null`,
		`{"goray_ref":"x","owner":"127.0.0.1:1","more":1}`,
		`{"goray_ref":"x","owner":"127.0.0.1:1"} {}`,
		`{"goray_ref":"","owner":"127.0.0.1:1"}`,
		`{"goray_ref":"a/b","owner":"127.0.0.1:1"}`,
		`{"goray_ref":"x","owner":"nohost"}`,
		`{"goray_ref":"x","owner":":80"}`,
		`{"goray_ref":"x","owner":"h:0"}`,
		`{"goray_ref":"x","owner":"h:99999"}`,
		`{"goray_ref":"` + strings.Repeat("a", 129) + `","owner":"h:1"}`,
		`{"goray_ref":"x","owner":"` + strings.Repeat("h", 300) + `:1"}`,
		`{"goray_ref":"x","owner":"h:1"}` + strings.Repeat(" ", 2000),
	} {
		if _, _, err := ParseRefJSON([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestValidateBorrowUpdate(t *testing.T) {
	ok := &rpcpb.BorrowUpdate{BorrowerAddress: "127.0.0.1:5", Add: []string{"abc"}, Remove: []*rpcpb.BorrowCount{{Id: "def", N: 2}}}
	if err := ValidateBorrowUpdate(ok); err != nil {
		t.Fatal(err)
	}
	many := make([]string, maxBorrowUpdate+1)
	for i := range many {
		many[i] = "a"
	}
	for name, u := range map[string]*rpcpb.BorrowUpdate{
		"no borrower":  {Add: []string{"a"}},
		"bad borrower": {BorrowerAddress: "x", Add: []string{"a"}},
		"too many":     {BorrowerAddress: "h:1", Add: many},
		"bad id":       {BorrowerAddress: "h:1", Add: []string{"a b"}},
		"empty id":     {BorrowerAddress: "h:1", Remove: []*rpcpb.BorrowCount{{N: 1}}},
		"zero count":   {BorrowerAddress: "h:1", Remove: []*rpcpb.BorrowCount{{Id: "a"}}},
		"huge count":   {BorrowerAddress: "h:1", Remove: []*rpcpb.BorrowCount{{Id: "a", N: maxBorrowCount + 1}}},
	} {
		if err := ValidateBorrowUpdate(u); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestValidateContains(t *testing.T) {
	if err := ValidateContains([]*rpcpb.ObjectRef{{Id: "abc", OwnerAddress: "127.0.0.1:9"}}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]*rpcpb.ObjectRef{
		{{Id: "", OwnerAddress: "127.0.0.1:9"}},
		{{Id: "abc", OwnerAddress: "nowhere"}},
		{nil},
	} {
		if ValidateContains(bad) == nil {
			t.Errorf("accepted %v", bad)
		}
	}
}

// FuzzParseRefJSON: a Ref's JSON form comes from other processes (or any
// bytes a user decodes): the parser never panics, and what it accepts is
// bounded, valid, and reads back the same after MarshalRefJSON.
func FuzzParseRefJSON(f *testing.F) {
	f.Add([]byte(`{"goray_ref":"0a1b2c3d4e5f0000000000000000002a","owner":"127.0.0.1:4000"}`))
	f.Add([]byte(`{"goray_ref":"0a1b2c3d4e5f0000000000000000002ar1","owner":"[::1]:80"}`))
	f.Add([]byte(`{"owner":"h:1","goray_ref":"x\u0041"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"goray_ref":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, owner, err := ParseRefJSON(b)
		if err != nil {
			return
		}
		if len(b) > MaxRefJSON || ValidateObjectID(id) != nil || ValidateAddress(owner) != nil {
			t.Fatalf("accepted %q: id %q owner %q", b, id, owner)
		}
		again, err := MarshalRefJSON(id, owner)
		if err != nil {
			t.Fatal(err)
		}
		if id2, owner2, err := ParseRefJSON(again); err != nil || id2 != id || owner2 != owner {
			t.Fatalf("%q re-encoded as %s reads %q %q %v", b, again, id2, owner2, err)
		}
	})
}

// FuzzBorrowUpdate: an UpdateBorrows request is any bytes another process
// sends: it decodes and validates or is refused, never a panic, and an
// accepted one is within the limits the owner's table relies on.
func FuzzBorrowUpdate(f *testing.F) {
	seed, _ := proto.Marshal(&rpcpb.BorrowUpdate{BorrowerAddress: "127.0.0.1:5", Add: []string{"abc"}, Remove: []*rpcpb.BorrowCount{{Id: "def", N: 2}}})
	f.Add(seed)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var u rpcpb.BorrowUpdate
		if proto.Unmarshal(b, &u) != nil {
			return
		}
		if ValidateBorrowUpdate(&u) != nil {
			return
		}
		if len(u.Add)+len(u.Remove) > maxBorrowUpdate || len(u.BorrowerAddress) > maxAddrLen {
			t.Fatalf("accepted an update beyond the limits: %d ids, address of %d bytes", len(u.Add)+len(u.Remove), len(u.BorrowerAddress))
		}
		for _, r := range u.Remove {
			if r.N <= 0 || r.N > maxBorrowCount || len(r.Id) > maxRefIDLen {
				t.Fatalf("accepted removal %v", r)
			}
		}
	})
}
