// The customer example's API called through a client that oapi-codegen generated from the
// server's OpenAPI document (package api, generated into ./api by the test, never
// committed): every endpoint, a customer that is not there, and requests that break the
// document's schema, sent raw through the generated client's *WithBody call or a request
// editor. One line per call on stdout (package report).
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

// rawQuery replaces the query string the generated client built.
func rawQuery(q string) api.RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.URL.RawQuery = q
		return nil
	}
}

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
	type (
		customer = api.Customer
		apiError = api.Error
	)

	// Every endpoint, as the document describes it.
	r1, err := c.PostApiCustomerWithResponse(ctx, api.Customer{Id: "go-1", Name: "Ada Lovelace"})
	report.Call[report.NoBody, apiError]("post-customer", r1, err)
	r2, err := c.GetApiCustomerWithResponse(ctx, &api.GetApiCustomerParams{Id: "go-1"})
	report.Call[customer, apiError]("get-customer", r2, err)

	// Values that need encoding in the query string and the body.
	const odd = "a b/ü?&=%"
	r3, err := c.PostApiCustomerWithResponse(ctx, api.Customer{Id: odd, Name: "Ünïcödé \"quoted\""})
	report.Call[report.NoBody, apiError]("post-customer-odd", r3, err)
	r4, err := c.GetApiCustomerWithResponse(ctx, &api.GetApiCustomerParams{Id: odd})
	report.Call[customer, apiError]("get-customer-odd", r4, err)

	// An error of the handler's own.
	r5, err := c.GetApiCustomerWithResponse(ctx, &api.GetApiCustomerParams{Id: "nobody"})
	report.Call[customer, apiError]("get-customer-missing", r5, err)

	// Requests that break the schema, refused by the server's binding.
	r6, err := c.PostApiCustomerWithBodyWithResponse(ctx, "application/json", strings.NewReader(`{"id":7,"name":"x"}`))
	report.Call[report.NoBody, apiError]("post-customer-wrong-type", r6, err)
	r7, err := c.PostApiCustomerWithBodyWithResponse(ctx, "application/json", strings.NewReader(`{"id":"go-2"}`))
	report.Call[report.NoBody, apiError]("post-customer-missing-field", r7, err)
	r8, err := c.GetApiCustomerWithResponse(ctx, &api.GetApiCustomerParams{Id: "go-1"}, rawQuery(""))
	report.Call[customer, apiError]("get-customer-no-id", r8, err)

	if report.Failed {
		os.Exit(1)
	}
}
