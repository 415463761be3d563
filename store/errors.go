package store

import (
	"errors"
	"fmt"
)

// Sentinel errors. Implementations wrap them with the key or revision they
// concern; check them with errors.Is.
var (
	// ErrNotFound: the key does not exist (Get, Update, Delete).
	ErrNotFound = errors.New("key not found")
	// ErrAlreadyExists: Create found the key present.
	ErrAlreadyExists = errors.New("key already exists")
	// ErrConflict: the key's modification revision is not the expected one;
	// someone else wrote it first. Read it again and retry.
	ErrConflict = errors.New("revision conflict")
	// ErrCompacted: the requested revision has been compacted away; the
	// caller must start again from a current list.
	ErrCompacted = errors.New("revision compacted")
	// ErrFutureRevision: the requested revision has not happened yet.
	ErrFutureRevision = errors.New("revision is in the future")
	// ErrInvalid: the request is malformed (bad key, nil value, negative
	// TTL, bad continue token ...). Nothing was written.
	ErrInvalid = errors.New("invalid request")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("store closed")
)

// KeyError wraps one of the sentinel errors with the key it concerns.
type KeyError struct {
	Key string
	Err error
}

func (e *KeyError) Error() string { return fmt.Sprintf("key %q: %v", e.Key, e.Err) }
func (e *KeyError) Unwrap() error { return e.Err }

// NewKeyError returns err attributed to key.
func NewKeyError(key string, err error) error { return &KeyError{Key: key, Err: err} }

// invalidf returns an ErrInvalid with a message.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
