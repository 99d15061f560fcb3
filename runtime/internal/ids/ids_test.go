package ids

import "testing"

func TestMinted(t *testing.T) {
	a, b := Seq(), Seq()
	if a == b || !Minted(a) || !Minted(b) {
		t.Fatalf("Seq ids %q %q not minted here", a, b)
	}
	// Another process: same counter, another random prefix.
	other := New()[:len(prefix)] + a[len(prefix):]
	if other[:len(prefix)] == prefix {
		t.Skip("random prefixes collided")
	}
	for _, id := range []string{Return(a, 1), Item(a, 0), Item(a, 123456)} {
		if !Minted(id) {
			t.Errorf("derived id %q not minted here", id)
		}
	}
	for _, id := range []string{other, New(), a[:len(a)-1], a + "0", "", a + "r", a + "g1x", a + "x1", Item(other, 3)} {
		if Minted(id) {
			t.Errorf("Minted(%q) = true", id)
		}
	}
}
