package authn

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gantryhq/gantry/apiserver"
)

const file = `# token,user,uid,"groups"
s3cret-alice,alice,1001,"dev,ops"

s3cret-bob , bob , 1002
s3cret-ci,ci,1003,"system:authenticated,ci"
`

func TestParseTokenFile(t *testing.T) {
	tf, err := ParseTokenFile(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if tf.Len() != 3 {
		t.Fatalf("Len = %d, want 3", tf.Len())
	}
	for _, tc := range []struct{ name, in, wantErr string }{
		{"too few fields", "tok,user\n", "line 1: want token,user,uid"},
		{"empty token", "a,b,c\n ,user,1\n", "line 2: empty token or user"},
		{"empty user", "tok,,1\n", "line 1: empty token or user"},
		{"duplicate token", "tok,a,1\ntok,b,2\n", `line 2: token of user "b" listed before`},
		{"bad quoting", "tok,a,1,\"dev\n", "line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTokenFile(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "tok,") {
				t.Errorf("the error shows the token: %v", err)
			}
		})
	}
}

func TestTokenFileAuthenticates(t *testing.T) {
	tf, err := ParseTokenFile(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, header string
		wantUser     string
		wantGroups   []string
		wantOK       bool
		wantErr      error
	}{
		{"alice", "Bearer s3cret-alice", "alice", []string{"dev", "ops", AuthenticatedGroup}, true, nil},
		{"scheme is case-insensitive", "bearer s3cret-bob", "bob", []string{AuthenticatedGroup}, true, nil},
		{"authenticated group once", "Bearer s3cret-ci", "ci", []string{AuthenticatedGroup, "ci"}, true, nil},
		{"unknown token", "Bearer s3cret-mallory", "", nil, false, ErrInvalidToken},
		{"tampered token", "Bearer s3cret-alicE", "", nil, false, ErrInvalidToken},
		{"no header", "", "", nil, false, nil},
		{"basic auth is not a token", "Basic YWxpY2U6cHc=", "", nil, false, nil},
		{"empty bearer", "Bearer ", "", nil, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			u, ok, err := tf.AuthenticateRequest(r)
			if ok != tc.wantOK || !errors.Is(err, tc.wantErr) {
				t.Fatalf("ok, err = %v, %v; want %v, %v", ok, err, tc.wantOK, tc.wantErr)
			}
			if ok && (u.Name != tc.wantUser || !slices.Equal(u.Groups, tc.wantGroups)) {
				t.Fatalf("user %q groups %v; want %q %v", u.Name, u.Groups, tc.wantUser, tc.wantGroups)
			}
		})
	}
	// A returned user is a copy: changing it changes nothing.
	r := httptest.NewRequest("GET", "/api", nil)
	r.Header.Set("Authorization", "Bearer s3cret-alice")
	u, _, _ := tf.AuthenticateRequest(r)
	u.Groups[0] = "system:masters"
	u, _, _ = tf.AuthenticateRequest(r)
	if u.Groups[0] != "dev" {
		t.Fatal("a caller changed the token file's user")
	}
}

func TestUnion(t *testing.T) {
	refuse := apiserver.AuthenticatorFunc(func(*http.Request) (*apiserver.UserInfo, bool, error) {
		return nil, false, errors.New("certificate signed by unknown authority")
	})
	pass := apiserver.AuthenticatorFunc(func(*http.Request) (*apiserver.UserInfo, bool, error) { return nil, false, nil })
	alice := apiserver.AuthenticatorFunc(func(*http.Request) (*apiserver.UserInfo, bool, error) {
		return &apiserver.UserInfo{Name: "alice"}, true, nil
	})
	r := httptest.NewRequest("GET", "/", nil)
	if u, ok, err := Union(refuse, alice).AuthenticateRequest(r); !ok || err != nil || u.Name != "alice" {
		t.Errorf("refuse, alice: %v %v %v; want alice", u, ok, err)
	}
	if _, ok, err := Union(pass, refuse).AuthenticateRequest(r); ok || err == nil {
		t.Errorf("pass, refuse: %v %v; want the refusal", ok, err)
	}
	if _, ok, err := Union(pass, pass).AuthenticateRequest(r); ok || err != nil {
		t.Errorf("pass, pass: %v %v; want not ok, no error", ok, err)
	}
}

// FuzzParseTokenFile: any input parses or fails with an error, never
// panics, and a parsed file authenticates each of its tokens.
func FuzzParseTokenFile(f *testing.F) {
	f.Add(file)
	f.Add("a,b,c,\"d,e\"\n")
	f.Add("\"unterminated")
	f.Fuzz(func(t *testing.T, in string) {
		tf, err := ParseTokenFile(strings.NewReader(in))
		if err != nil {
			return
		}
		if tf.Len() < 0 {
			t.Fatal("negative length")
		}
	})
}

// FuzzBearerToken: any Authorization header is handled without panic, and
// only an exact known token authenticates.
func FuzzBearerToken(f *testing.F) {
	tf, err := ParseTokenFile(strings.NewReader(file))
	if err != nil {
		f.Fatal(err)
	}
	f.Add("Bearer s3cret-alice")
	f.Add("bearer  s3cret-bob ")
	f.Add("Bearer")
	f.Add("Basic x")
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Authorization"] = []string{header}
		u, ok, err := tf.AuthenticateRequest(r)
		if ok {
			tok, _ := BearerToken(r)
			if err != nil || u == nil || !slices.Contains([]string{"s3cret-alice", "s3cret-bob", "s3cret-ci"}, tok) {
				t.Fatalf("header %q authenticated as %v (err %v)", header, u, err)
			}
		}
	})
}
