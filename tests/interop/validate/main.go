// openapi-validate loads OpenAPI documents with kin-openapi and validates them against the
// specification (its version decides the rules: 3.1 documents get JSON Schema 2020-12).
//
//	openapi-validate FILE...
//
// Exit status: 0 when every document is valid; 1 when one does not load or is invalid,
// with every error found on stderr; 2 for a usage error. The project's interop test runs
// it on what `APP build` writes to openapi/ and on what the server serves at /openapi.json.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/getkin/kin-openapi/openapi3"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: openapi-validate FILE...")
		os.Exit(2)
	}
	failed := false
	for _, path := range os.Args[1:] {
		if err := validate(path); err != nil {
			failed = true
			fmt.Fprintf(os.Stderr, "%s: invalid:\n", path)
			var all openapi3.MultiError
			if errors.As(err, &all) {
				for _, e := range all {
					fmt.Fprintf(os.Stderr, "  %v\n", e)
				}
			} else {
				fmt.Fprintf(os.Stderr, "  %v\n", err)
			}
			continue
		}
		fmt.Printf("%s: valid\n", path)
	}
	if failed {
		os.Exit(1)
	}
}

func validate(path string) error {
	loader := openapi3.NewLoader()
	// The documents are self-contained: a $ref outside one is an error, never a fetch.
	loader.IsExternalRefsAllowed = false
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return fmt.Errorf("does not load: %w", err)
	}
	// Every error, not only the first; formats, patterns, defaults and examples checked.
	return doc.Validate(context.Background(),
		openapi3.EnableMultiError(),
		openapi3.EnableSchemaFormatValidation(),
		openapi3.EnableSchemaPatternValidation(),
		openapi3.EnableSchemaDefaultsValidation(),
		openapi3.EnableExamplesValidation())
}
