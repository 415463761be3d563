package authn

import (
	"crypto/sha256"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/gantryhq/gantry/apiserver"
)

// AuthenticatedGroup is added to every user a TokenFile accepts, as
// Kubernetes does for all authenticated users.
const AuthenticatedGroup = "system:authenticated"

// ErrInvalidToken is the error of a bearer token that no entry matches.
var ErrInvalidToken = errors.New("invalid bearer token")

// TokenFile authenticates requests by a bearer token listed in a static
// file. It keeps the tokens' SHA-256 digests, not the tokens. Safe for
// concurrent use; it never changes after it is made.
type TokenFile struct {
	users map[[sha256.Size]byte]*apiserver.UserInfo
}

var _ apiserver.Authenticator = (*TokenFile)(nil)

// LoadTokenFile reads a token file (see ParseTokenFile).
func LoadTokenFile(path string) (*TokenFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	tf, err := ParseTokenFile(f)
	if err != nil {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	return tf, nil
}

// ParseTokenFile reads kube-apiserver's token file format: CSV lines of
// token,user,uid and optionally a quoted, comma-separated list of groups,
//
//	31ada4fd-adec-460c-809a-9e56ceb75269,alice,1001,"dev,ops"
//
// Empty lines and lines starting with # are skipped. A line with fewer
// than three fields, an empty token or user, or a token listed twice is an
// error naming the line (never the token).
func ParseTokenFile(r io.Reader) (*TokenFile, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.Comment = '#'
	cr.TrimLeadingSpace = true
	tf := &TokenFile{users: map[[sha256.Size]byte]*apiserver.UserInfo{}}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return tf, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("line %d: %w", pe.Line, pe.Err)
			}
			return nil, err
		}
		line, _ := cr.FieldPos(0) // only valid after a record was read
		if len(rec) < 3 {
			return nil, fmt.Errorf("line %d: want token,user,uid[,\"groups\"], got %d fields", line, len(rec))
		}
		token, user, uid := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1]), strings.TrimSpace(rec[2])
		if token == "" || user == "" {
			return nil, fmt.Errorf("line %d: empty token or user", line)
		}
		u := &apiserver.UserInfo{Name: user, UID: uid}
		if len(rec) > 3 {
			for _, g := range strings.Split(rec[3], ",") {
				if g = strings.TrimSpace(g); g != "" && !slices.Contains(u.Groups, g) {
					u.Groups = append(u.Groups, g)
				}
			}
		}
		if !slices.Contains(u.Groups, AuthenticatedGroup) {
			u.Groups = append(u.Groups, AuthenticatedGroup)
		}
		key := sha256.Sum256([]byte(token))
		if _, dup := tf.users[key]; dup {
			return nil, fmt.Errorf("line %d: token of user %q listed before", line, user)
		}
		tf.users[key] = u
	}
}

// Len is the number of tokens.
func (tf *TokenFile) Len() int { return len(tf.users) }

// AuthenticateRequest implements apiserver.Authenticator: a request
// without an "Authorization: Bearer" header is not its business (ok is
// false); a bearer token it does not know is ErrInvalidToken (401).
func (tf *TokenFile) AuthenticateRequest(r *http.Request) (*apiserver.UserInfo, bool, error) {
	token, ok := BearerToken(r)
	if !ok {
		return nil, false, nil
	}
	u, ok := tf.users[sha256.Sum256([]byte(token))]
	if !ok {
		return nil, false, ErrInvalidToken
	}
	c := *u
	c.Groups = slices.Clone(u.Groups)
	return &c, true, nil
}

// BearerToken returns the token of an "Authorization: Bearer <token>"
// header; ok is false when there is none (or it is empty).
func BearerToken(r *http.Request) (token string, ok bool) {
	h := r.Header.Get("Authorization")
	scheme, rest, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	token = strings.TrimSpace(rest)
	return token, token != ""
}

// Union tries authenticators in order: the first that knows the request
// (ok) decides. When none does, an error of one of them (credentials
// presented and refused) is returned, else ok is false.
func Union(authenticators ...apiserver.Authenticator) apiserver.Authenticator {
	return apiserver.AuthenticatorFunc(func(r *http.Request) (*apiserver.UserInfo, bool, error) {
		var errs []error
		for _, a := range authenticators {
			u, ok, err := a.AuthenticateRequest(r)
			if ok {
				return u, true, nil
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
		return nil, false, errors.Join(errs...)
	})
}
