package store

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// RegistryPrefix is the root of all API objects.
const RegistryPrefix = "/registry/"

// ObjectKey returns the key of an API object: /registry/<resource>/<namespace>/<name>,
// or /registry/<resource>/<name> when namespace is empty (cluster-scoped).
func ObjectKey(resource, namespace, name string) string {
	if namespace == "" {
		return RegistryPrefix + resource + "/" + name
	}
	return RegistryPrefix + resource + "/" + namespace + "/" + name
}

// ObjectPrefix returns the prefix under which all objects of a resource live,
// restricted to one namespace when namespace is not empty. It ends with "/",
// so that namespace "a" does not match namespace "ab".
func ObjectPrefix(resource, namespace string) string {
	if namespace == "" {
		return RegistryPrefix + resource + "/"
	}
	return RegistryPrefix + resource + "/" + namespace + "/"
}

// MaxKeyLen bounds the length of a key.
const MaxKeyLen = 4096

// ValidateKey checks that key is a usable key: absolute ("/..."), not longer
// than MaxKeyLen, without empty, "." or ".." segments and without NUL bytes.
// The error wraps ErrInvalid.
func ValidateKey(key string) error {
	if err := validatePath(key); err != nil {
		return NewKeyError(key, err)
	}
	if strings.HasSuffix(key, "/") {
		return NewKeyError(key, invalidf("key must not end with /"))
	}
	return nil
}

// ValidatePrefix checks a List or Watch prefix: like a key, but it may end
// with "/". The error wraps ErrInvalid.
func ValidatePrefix(prefix string) error {
	if prefix == "/" {
		return nil
	}
	if err := validatePath(strings.TrimSuffix(prefix, "/")); err != nil {
		return NewKeyError(prefix, err)
	}
	return nil
}

func validatePath(key string) error {
	switch {
	case key == "":
		return invalidf("empty key")
	case len(key) > MaxKeyLen:
		return invalidf("key longer than %d bytes", MaxKeyLen)
	case key[0] != '/':
		return invalidf("key must start with /")
	case strings.IndexByte(key, 0) >= 0:
		return invalidf("key contains a NUL byte")
	}
	for _, seg := range strings.Split(key[1:], "/") {
		switch seg {
		case "":
			return invalidf("key has an empty segment")
		case ".", "..":
			return invalidf("key has a %q segment", seg)
		}
	}
	return nil
}

// ValidateWrite checks the arguments common to Create and Update.
func ValidateWrite(key string, value []byte, opts WriteOptions) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if value == nil {
		return NewKeyError(key, invalidf("nil value"))
	}
	if opts.TTL < 0 {
		return NewKeyError(key, invalidf("negative TTL %v", opts.TTL))
	}
	return nil
}

// ValidateRevision checks a revision argument (expected or read revision).
func ValidateRevision(rev int64) error {
	if rev < 0 {
		return invalidf("negative revision %d", rev)
	}
	return nil
}

// continueToken is what a continue string carries: where the next page starts
// and at which revision the whole list is read.
type continueToken struct {
	Revision int64  `json:"rv"`
	Start    string `json:"start"`
	Prefix   string `json:"prefix"`
}

// EncodeContinue returns the opaque continue string for a list of prefix read
// at revision whose next page starts at key start. Implementations use it so
// that tokens mean the same thing for every backend.
func EncodeContinue(prefix string, revision int64, start string) string {
	b, _ := json.Marshal(continueToken{Revision: revision, Start: start, Prefix: prefix})
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeContinue parses a continue string made by EncodeContinue for a list of
// prefix and returns the revision and the start key. A token that is
// malformed, or was made for another prefix, is an ErrInvalid.
func DecodeContinue(prefix, token string) (revision int64, start string, err error) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return 0, "", invalidf("malformed continue token: %v", err)
	}
	var t continueToken
	if err := json.Unmarshal(b, &t); err != nil {
		return 0, "", invalidf("malformed continue token: %v", err)
	}
	if t.Prefix != prefix || !strings.HasPrefix(t.Start, prefix) || t.Revision <= 0 {
		return 0, "", invalidf("continue token does not belong to a list of %q", prefix)
	}
	return t.Revision, t.Start, nil
}

// ResolveListOptions validates opts for a List of prefix and returns the
// revision to read at (0 for current) and the first key of the page.
func ResolveListOptions(prefix string, opts ListOptions) (revision int64, start string, err error) {
	if err := ValidatePrefix(prefix); err != nil {
		return 0, "", err
	}
	if opts.Limit < 0 {
		return 0, "", invalidf("negative limit %d", opts.Limit)
	}
	if err := ValidateRevision(opts.Revision); err != nil {
		return 0, "", err
	}
	if opts.Continue == "" {
		return opts.Revision, prefix, nil
	}
	if opts.Revision != 0 {
		return 0, "", invalidf("revision and continue are mutually exclusive")
	}
	return DecodeContinue(prefix, opts.Continue)
}

// PrefixEnd returns the smallest key greater than every key with the given
// prefix, or "" when there is none (prefix of all 0xff bytes).
func PrefixEnd(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return ""
}

// String makes KeyValue readable in test failures.
func (kv *KeyValue) String() string {
	return fmt.Sprintf("%s@%d(created %d)=%q", kv.Key, kv.ModRevision, kv.CreateRevision, kv.Value)
}
