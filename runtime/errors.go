package runtime

import "errors"

// Sentinel errors. Implementations wrap them with the object they concern
// (`container "3f2a...": runtime object not found`); check them with
// errors.Is.
var (
	// ErrNotFound: the sandbox, container or image does not exist.
	ErrNotFound = errors.New("runtime object not found")
	// ErrAlreadyExists: a sandbox or container of the same identity (pod UID,
	// container name, attempt) exists, or a node-level object exists with
	// settings that differ from the requested ones.
	ErrAlreadyExists = errors.New("runtime object already exists")
	// ErrInvalidArgument: the request is malformed (missing pod UID, empty
	// command, bad image reference...). Nothing was created.
	ErrInvalidArgument = errors.New("invalid runtime request")
	// ErrNotRunning: the operation needs a running container (exec).
	ErrNotRunning = errors.New("container is not running")
	// ErrImageNeverPull: the image is not present and the pull policy is
	// Never. A node agent reports it as the container's ErrImageNeverPull
	// waiting reason.
	ErrImageNeverPull = errors.New("image not present and pull policy is Never")
	// ErrImagePull: pulling the image failed (unreachable or unknown registry,
	// unknown image, bad credentials, timeout). A node agent reports it as
	// ErrImagePull, then backs off (ImagePullBackOff).
	ErrImagePull = errors.New("image pull failed")
	// ErrUnavailable: the runtime does not answer (daemon down, socket
	// missing).
	ErrUnavailable = errors.New("container runtime unavailable")
)
