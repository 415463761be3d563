package nodeagent

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/runtime"
)

func TestParsePullSecret(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString([]byte("alice:pw"))
	for _, tc := range []struct {
		name    string
		secret  corev1.Secret
		want    []registryAuth
		wantErr string
	}{
		{
			name: "dockerconfigjson with auth",
			secret: corev1.Secret{Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{
				corev1.DockerConfigJsonKey: []byte(`{"auths":{"https://registry.example:5000/v1/":{"auth":"` + b64 + `"}}}`),
			}},
			want: []registryAuth{{host: "registry.example:5000", auth: runtime.AuthConfig{
				ServerAddress: "registry.example:5000", Username: "alice", Password: "pw", Auth: b64}}},
		},
		{
			name: "dockercfg with a path and Docker Hub",
			secret: corev1.Secret{Type: corev1.SecretTypeDockercfg, Data: map[string][]byte{
				corev1.DockerConfigKey: []byte(`{"index.docker.io/v1/":{"username":"bob","password":"x"}}`),
			}},
			want: []registryAuth{{host: "docker.io", auth: runtime.AuthConfig{ServerAddress: "docker.io", Username: "bob", Password: "x"}}},
		},
		{name: "opaque", secret: corev1.Secret{Type: corev1.SecretTypeOpaque}, wantErr: "is not"},
		{name: "no key", secret: corev1.Secret{Type: corev1.SecretTypeDockerConfigJson}, wantErr: "has no .dockerconfigjson"},
		{name: "bad JSON", secret: corev1.Secret{Type: corev1.SecretTypeDockercfg, Data: map[string][]byte{corev1.DockerConfigKey: []byte("{")}}, wantErr: "decoding"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePullSecret(&tc.secret)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestMatchAuth(t *testing.T) {
	keyring := []registryAuth{
		{host: "registry.example", auth: runtime.AuthConfig{Username: "any"}},
		{host: "registry.example", path: "team", auth: runtime.AuthConfig{Username: "team"}},
		{host: "docker.io", auth: runtime.AuthConfig{Username: "hub"}},
	}
	names := func(image string) []string {
		var out []string
		for _, a := range matchAuth(keyring, image) {
			out = append(out, a.Username)
		}
		return out
	}
	require.Equal(t, []string{"team", "any"}, names("registry.example/team/app:1"), "the longest path first")
	require.Equal(t, []string{"any"}, names("registry.example/teamwork/app"), "a path prefix matches whole segments")
	require.Equal(t, []string{"hub"}, names("busybox"))
	require.Empty(t, names("other.example/app"))
	require.Empty(t, names("UPPER/case"), "a bad reference matches nothing")
}
