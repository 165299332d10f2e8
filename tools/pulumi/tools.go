//go:build tools

// Package tools pins the Pulumi engine binaries that scripts/dev/install-engine.sh
// builds when no suitable `pulumi` is installed.
package tools

import (
	_ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
)
