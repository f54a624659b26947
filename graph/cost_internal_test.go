package graph

import (
	"testing"
)

// The cost walker asks the generated Complexity only about the fields
// found, at start, to have a complexity function. That set must be
// exactly the fields setComplexity gives one: a field missing from it
// would be costed as 1 plus its selection, and a list of 500 would pass
// as cheap.
func TestCostedFieldsAreTheOnesWithAComplexityFunction(t *testing.T) {
	cfg := Config{}
	setComplexity(&cfg.Complexity)
	c := &costLimit{max: 1000}
	if err := c.Validate(NewExecutableSchema(cfg)); err != nil {
		t.Fatal(err)
	}
	want := []typeField{
		{"Query", "mySessions"}, {"User", "sessions"}, {"Query", "tenants"}, {"Query", "roles"},
		{"Query", "permissions"}, {"User", "memberships"}, {"Membership", "roles"}, {"Membership", "permissions"},
		{"Role", "permissions"}, {"Permission", "roles"}, {"Me", "roles"}, {"Me", "permissions"},
		{"SessionPolicyPayload", "warnings"}, {"SessionPolicyPreview", "warnings"},
	}
	for _, f := range want {
		if !c.costed[f] {
			t.Errorf("%s.%s has a complexity function but is not in the costed set", f.typ, f.field)
		}
	}
	if len(c.costed) != len(want) {
		t.Errorf("costed set has %d fields, want %d: %v", len(c.costed), len(want), c.costed)
	}
}
