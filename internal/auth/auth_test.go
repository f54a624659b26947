package auth

import "testing"

func TestGrants(t *testing.T) {
	const want = "fe.secure.delete.sessions"
	cases := []struct {
		name    string
		granted []string
		ok      bool
	}{
		{"exact key", []string{want}, true},
		{"wildcard on parent", []string{"fe.secure.*"}, true},
		{"wildcard on top", []string{"fe.*"}, true},
		{"star grants all", []string{"*"}, true},
		{"wildcard on sibling", []string{"fe.account.*"}, false},
		{"prefix without dot boundary", []string{"fe.sec.*"}, false},
		{"other key", []string{"fe.secure.read.sessions"}, false},
		{"nothing", nil, false},
		{"wildcard covers its own prefix", []string{"fe.secure.delete.sessions.*"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Grants(c.granted, want); got != c.ok {
				t.Fatalf("Grants(%v, %q) = %v, want %v", c.granted, want, got, c.ok)
			}
		})
	}
}
