package apiserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Serve serves the API on l until ctx is done, then shuts down: new
// connections are refused, open requests (including watches) get up to five
// seconds to finish. It creates the system namespaces first. With a TLS
// config the listener speaks HTTPS. Serve blocks; it returns nil after a
// clean shutdown.
func (s *Server) Serve(ctx context.Context, l net.Listener, tlsConfig *tls.Config) error {
	if err := s.EnsureSystemObjects(ctx); err != nil {
		l.Close()
		return fmt.Errorf("apiserver: %w", err)
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          nil,
	}
	if tlsConfig != nil {
		srv.TLSConfig = tlsConfig.Clone()
		if len(srv.TLSConfig.NextProtos) == 0 {
			srv.TLSConfig.NextProtos = []string{"h2", "http/1.1"}
		}
		l = tls.NewListener(l, srv.TLSConfig)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("apiserver: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// ListenAndServe listens on addr (host:port) and calls Serve.
func (s *Server) ListenAndServe(ctx context.Context, addr string, tlsConfig *tls.Config) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("apiserver: %w", err)
	}
	return s.Serve(ctx, l, tlsConfig)
}
