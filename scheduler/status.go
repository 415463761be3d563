package scheduler

import (
	"errors"
	"fmt"
	"strings"
)

// Code is the outcome of running a plugin at an extension point.
type Code int

// Status codes, as in the kube-scheduler framework.
const (
	// Success means the plugin ran and the pod may proceed. A nil *Status is
	// also Success.
	Success Code = iota
	// Error is an internal failure; the pod is retried with back-off.
	Error
	// Unschedulable means the pod does not fit now; preemption may help.
	Unschedulable
	// UnschedulableAndUnresolvable means the pod does not fit and
	// preempting other pods on the node would not change that.
	UnschedulableAndUnresolvable
	// Wait is returned by Permit plugins to hold a pod before binding.
	Wait
	// Skip is returned by PreFilter/PreScore to skip the plugin's
	// Filter/Score for this cycle.
	Skip
)

var codeNames = [...]string{"Success", "Error", "Unschedulable", "UnschedulableAndUnresolvable", "Wait", "Skip"}

func (c Code) String() string {
	if int(c) >= 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("Code(%d)", int(c))
}

// Status is a plugin's answer. "Does not fit" is a Status with code
// Unschedulable, not an error. A nil *Status means Success. Statuses are
// immutable once returned.
type Status struct {
	code    Code
	reasons []string
	err     error
	plugin  string
}

// NewStatus returns a status with the code and the reasons shown to users.
func NewStatus(code Code, reasons ...string) *Status {
	return &Status{code: code, reasons: reasons}
}

// AsStatus wraps an internal error into a status with code Error. A nil
// error gives a nil (Success) status.
func AsStatus(err error) *Status {
	if err == nil {
		return nil
	}
	return &Status{code: Error, reasons: []string{err.Error()}, err: err}
}

// Code returns the status code; Success for nil.
func (s *Status) Code() Code {
	if s == nil {
		return Success
	}
	return s.code
}

// IsSuccess reports whether the status is nil or Success.
func (s *Status) IsSuccess() bool { return s.Code() == Success }

// IsSkip reports whether the code is Skip.
func (s *Status) IsSkip() bool { return s.Code() == Skip }

// IsWait reports whether the code is Wait.
func (s *Status) IsWait() bool { return s.Code() == Wait }

// IsRejected reports whether the pod does not fit (Unschedulable or
// UnschedulableAndUnresolvable).
func (s *Status) IsRejected() bool {
	c := s.Code()
	return c == Unschedulable || c == UnschedulableAndUnresolvable
}

// Reasons returns the user-facing reasons.
func (s *Status) Reasons() []string {
	if s == nil {
		return nil
	}
	return s.reasons
}

// Message joins the reasons with ", ".
func (s *Status) Message() string {
	if s == nil {
		return ""
	}
	return strings.Join(s.reasons, ", ")
}

// Plugin names the plugin that produced the status, if known.
func (s *Status) Plugin() string {
	if s == nil {
		return ""
	}
	return s.plugin
}

// WithPlugin returns a copy of s naming the plugin that produced it.
func (s *Status) WithPlugin(name string) *Status {
	if s == nil {
		return nil
	}
	c := *s
	c.plugin = name
	return &c
}

// AsError returns nil for Success/Skip/Wait statuses and an error otherwise.
// The underlying error of an Error status can be found with errors.Is/As.
func (s *Status) AsError() error {
	switch s.Code() {
	case Success, Skip, Wait:
		return nil
	}
	if s.err != nil {
		if s.plugin != "" {
			return fmt.Errorf("plugin %q: %w", s.plugin, s.err)
		}
		return s.err
	}
	msg := s.Message()
	if s.plugin != "" {
		msg = fmt.Sprintf("plugin %q: %s", s.plugin, msg)
	}
	return errors.New(msg)
}

// String formats the status for logs.
func (s *Status) String() string {
	if s == nil {
		return "Success"
	}
	if len(s.reasons) == 0 {
		return s.code.String()
	}
	return s.code.String() + ": " + s.Message()
}
