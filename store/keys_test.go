package store_test

import (
	"errors"
	"testing"

	"github.com/gantryhq/gantry/store"
)

func TestValidateKey(t *testing.T) {
	for _, tc := range []struct {
		key string
		ok  bool
	}{
		{"/registry/pods/default/web", true},
		{"/a", true},
		{"", false},
		{"registry/pods", false},
		{"/registry//pods", false},
		{"/registry/pods/", false},
		{"/registry/../etc", false},
		{"/registry/./x", false},
		{"/a\x00b", false},
	} {
		t.Run(tc.key, func(t *testing.T) {
			err := store.ValidateKey(tc.key)
			if tc.ok && err != nil {
				t.Fatalf("ValidateKey(%q) = %v, want nil", tc.key, err)
			}
			if !tc.ok && !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("ValidateKey(%q) = %v, want ErrInvalid", tc.key, err)
			}
		})
	}
}

func TestValidatePrefix(t *testing.T) {
	for _, p := range []string{"/", "/registry/", "/registry/pods/default/", "/registry/po"} {
		if err := store.ValidatePrefix(p); err != nil {
			t.Errorf("ValidatePrefix(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"", "registry/", "//", "/a//b/"} {
		if err := store.ValidatePrefix(p); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ValidatePrefix(%q) = %v, want ErrInvalid", p, err)
		}
	}
}

func TestObjectKey(t *testing.T) {
	if got := store.ObjectKey("pods", "default", "web"); got != "/registry/pods/default/web" {
		t.Errorf("namespaced key = %q", got)
	}
	if got := store.ObjectKey("nodes", "", "n1"); got != "/registry/nodes/n1" {
		t.Errorf("cluster key = %q", got)
	}
	if got := store.ObjectPrefix("pods", "default"); got != "/registry/pods/default/" {
		t.Errorf("prefix = %q", got)
	}
}

func TestContinueToken(t *testing.T) {
	tok := store.EncodeContinue("/registry/pods/", 42, "/registry/pods/b\x00")
	rev, start, err := store.DecodeContinue("/registry/pods/", tok)
	if err != nil || rev != 42 || start != "/registry/pods/b\x00" {
		t.Fatalf("DecodeContinue = %d %q %v", rev, start, err)
	}
	if _, _, err := store.DecodeContinue("/registry/nodes/", tok); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("token for another prefix: %v, want ErrInvalid", err)
	}
	if _, _, err := store.DecodeContinue("/registry/pods/", "!!"); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("garbage token: %v, want ErrInvalid", err)
	}
}

func TestPrefixEnd(t *testing.T) {
	if got := store.PrefixEnd("/a/"); got != "/a0" {
		t.Errorf("PrefixEnd(/a/) = %q", got)
	}
	if got := store.PrefixEnd("\xff\xff"); got != "" {
		t.Errorf("PrefixEnd(ff ff) = %q", got)
	}
}
