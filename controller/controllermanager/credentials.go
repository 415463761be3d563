package controllermanager

import (
	"crypto"
	"fmt"

	sa "github.com/gantryhq/gantry/apiserver/serviceaccount"
	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/serviceaccount"
)

// registerCredentials adds the controllers that hand out credentials: the
// root CA publisher when there is a CA bundle, and the token controller
// when there is also a signing key.
func registerCredentials(m *controller.Manager, key crypto.Signer, rootCA []byte) error {
	if len(rootCA) == 0 {
		if key != nil {
			return fmt.Errorf("controllermanager: a service account key needs the root CA bundle (Options.RootCA) too")
		}
		return nil
	}
	if err := serviceaccount.RegisterRootCA(m, rootCA); err != nil {
		return err
	}
	if key == nil {
		return nil
	}
	signer, err := sa.NewIssuer(sa.IssuerOptions{Key: key})
	if err != nil {
		return fmt.Errorf("controllermanager: %w", err)
	}
	return serviceaccount.RegisterTokens(m, signer, rootCA)
}
