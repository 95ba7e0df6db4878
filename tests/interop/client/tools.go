//go:build tools

// The module the generated clients import, pinned here (go.mod, go.sum) although the code
// that imports it is generated at test time.
package tools

import _ "github.com/oapi-codegen/runtime"
