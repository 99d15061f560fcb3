package collective

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

	"github.com/goray-dev/goray/runtime/auth"
)

// A frame header from the wire is accepted only when it is exactly the
// one expected.
func FuzzDecodeHeader(f *testing.F) {
	want := frameHeader{op: opAllReduce, dtype: dtypeFloat32, seq: 7, chunk: 3, size: 4096}
	var good [headerSize]byte
	want.encode(&good)
	f.Add(good[:])
	f.Add(make([]byte, headerSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		var h [headerSize]byte
		copy(h[:], b)
		err := decodeHeader(&h, want)
		if (err == nil) != (h == good) {
			t.Fatalf("header %x: err %v", h, err)
		}
	})
}

// A dialler's hello is read within its bounds and accepted only when it
// names this group, the expected rank and the token.
func FuzzHello(f *testing.F) {
	hello := func(name string, size, rank uint32, token string) []byte {
		b := []byte("GRC1")
		b = binary.LittleEndian.AppendUint16(b, uint16(len(name)))
		b = append(b, name...)
		b = binary.LittleEndian.AppendUint32(b, size)
		b = binary.LittleEndian.AppendUint32(b, rank)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(token)))
		return append(b, token...)
	}
	valid := hello("g", 3, 0, "secret")
	f.Add(valid)
	f.Add(hello("g", 3, 1, "secret"))
	f.Add(hello("g", 3, 0, "wrong"))
	f.Add([]byte("GRC1\xff\xff"))
	sec := auth.NewToken("secret")
	f.Fuzz(func(t *testing.T, b []byte) {
		g := &Group{name: "g", size: 3, rank: 1}
		client, server := net.Pipe()
		go func() {
			_, _ = client.Write(b)
			_ = client.Close()
		}()
		err := g.check(server, &sec, 0)
		_ = server.Close()
		if err == nil && !bytes.HasPrefix(b, valid) {
			t.Fatalf("accepted %q", b)
		}
		if bytes.HasPrefix(b, valid) && err != nil {
			t.Fatalf("refused a valid hello: %v", err)
		}
	})
}
