//go:build tools

// Package tools pins the Pulumi Kubernetes provider, pulumi-resource-kubernetes, which
// scripts/dev/install-engine.sh builds and installs as the plugin of the npm @pulumi/kubernetes
// pinned in package.json (see go.mod). The provider's main package embeds files that upstream
// generates before building, so `go build` of it from here fails ("pattern schema-embed.json: no
// matching files found"); the script generates them in a copy of the package under .engine/src.
package tools

import (
	_ "github.com/pulumi/pulumi-kubernetes/provider/v4/cmd/pulumi-resource-kubernetes"
)
