// The customer example's API called through a client that oapi-codegen generated from the
// server's OpenAPI document (package api, generated into ./api by the test, never
// committed): every endpoint, values that need encoding, a customer that is not there, an
// empty id, and requests that break the document's schema, sent raw through the generated
// client's *WithBody call. One line per call on stdout (package report).
//
//	customer BASE_URL        e.g. http://127.0.0.1:20000
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"snapshot.test/interop/client/customer/api"
	"snapshot.test/interop/client/report"
)

type (
	customer = api.Customer
	apiError = api.Error
	none     = report.NoBody
	editor   = report.Editor
	response = report.Response
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: customer BASE_URL")
		os.Exit(2)
	}
	c, err := api.NewClientWithResponses(os.Args[1], api.WithHTTPClient(&http.Client{Timeout: 30 * time.Second}))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx := context.Background()
	post := func(call string, body api.Customer) {
		report.Call[none, apiError](call, func(sent editor) (response, error) {
			return c.PostApiCustomerWithResponse(ctx, body, sent)
		})
	}
	get := func(call, id string) {
		report.Call[customer, apiError](call, func(sent editor) (response, error) {
			return c.GetApiCustomerByIdWithResponse(ctx, id, sent)
		})
	}
	postRaw := func(call, body string) {
		report.Call[none, apiError](call, func(sent editor) (response, error) {
			return c.PostApiCustomerWithBodyWithResponse(ctx, "application/json", strings.NewReader(body), sent)
		})
	}

	// Every endpoint, as the document describes it.
	post("post-customer", api.Customer{Id: "go-1", Name: "Ada Lovelace"})
	get("get-customer", "go-1")
	// Values that need encoding in the path and the body.
	const odd = "a b/ü?&=%+"
	post("post-customer-odd", api.Customer{Id: odd, Name: "Ünïcödé \"quoted\" \\ \t"})
	get("get-customer-odd", odd)
	// An error of the handler's own.
	get("get-customer-missing", "nobody")
	// Requests that break the schema, refused by the server's binding.
	postRaw("post-customer-wrong-type", `{"id":7,"name":"x"}`)
	postRaw("post-customer-missing-member", `{"id":"go-2"}`)
	postRaw("post-customer-not-json", `{"id":`)
	// An empty id leaves the path without its last segment, which no route matches.
	get("get-customer-empty-id", "")

	report.Exit()
}
