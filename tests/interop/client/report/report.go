// Package report writes what a generated client sent and got, one JSON line per call, for
// the C++ test to compare with what the typed C++ client gets and to send again itself:
//
//	{"call":"get-customer-missing",
//	 "request":{"host":"127.0.0.1:20000","method":"GET","target":"/api/customer/nobody",
//	            "content_type":"","body":null},
//	 "status":404,"body":{"code":"not_found","message":"no customer nobody"}}
//
// "request" is what went on the wire (the server it went to, the target as sent, percent-encoding included; the
// body as text, null for none). "body" is the response decoded into the generated Go
// type and encoded again, so that a member the document left out of a schema would be
// missing here; null for a response without one (204); and the raw text, as a JSON
// string, when it does not decode into the generated type ("undecoded": true then).
package report

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
)

// Response is what every generated *Response type has.
type Response interface {
	StatusCode() int
	GetBody() []byte
}

// Editor is a generated package's RequestEditorFn (an alias, so it is assignable to each).
type Editor = func(context.Context, *http.Request) error

type request struct {
	Host        string  `json:"host"`
	Method      string  `json:"method"`
	Target      string  `json:"target"`
	ContentType string  `json:"content_type"`
	Body        *string `json:"body"`
}

type line struct {
	Call      string          `json:"call"`
	Request   *request        `json:"request"`
	Status    int             `json:"status"`
	Body      json.RawMessage `json:"body"`
	Undecoded bool            `json:"undecoded,omitempty"`
}

// Failed is set once a call could not be made, decoded or reported; main exits 1 then.
var Failed bool

// Fail reports a call that did not complete (a transport error, an encoding error).
func Fail(call string, err error) {
	Failed = true
	fmt.Fprintf(os.Stderr, "%s: %v\n", call, err)
}

// Exit ends the program: status 1 when a call failed.
func Exit() {
	if Failed {
		os.Exit(1)
	}
	os.Exit(0)
}

// strict decodes body into v, refusing members v's type does not have.
func strict(body []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("text after the JSON value")
	}
	return nil
}

// generatedDecode checks that the generated client decoded a body of `status` itself: its
// response type has a JSONnnn member for every status the document lists, so a missing
// one is a status the server answers and the document does not say.
func generatedDecode(r Response, status int) error {
	v := reflect.ValueOf(r)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	name := fmt.Sprintf("JSON%d", status)
	f := v.FieldByName(name)
	switch {
	case !f.IsValid():
		return fmt.Errorf("the generated response type has no %s: the document does not list status %d", name, status)
	case f.Kind() == reflect.Pointer && f.IsNil():
		return fmt.Errorf("the generated client did not decode the %d body into %s", status, name)
	}
	return nil
}

// NoBody is the success type of an operation that answers 204 without a body.
type NoBody struct{}

// Call makes one call through the generated client and reports it. do makes the call,
// passing `sent` last among its request editors (after any editor that changes the
// request), so that what is reported is what went on the wire. A success body is decoded
// into T, the generated type of the operation's success response (NoBody for none); an
// error body into E, the generated type of the Error schema. Both decodes are strict.
func Call[T, E any](call string, do func(sent Editor) (Response, error)) {
	var req *request
	sent := func(_ context.Context, r *http.Request) error {
		req = &request{Host: r.URL.Host, Method: r.Method, Target: r.URL.RequestURI(), ContentType: r.Header.Get("Content-Type")}
		if r.Body != nil {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				return err
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
			text := string(b)
			req.Body = &text
		}
		return nil
	}
	r, err := do(sent)
	if err != nil {
		Fail(call, err)
		return
	}
	l := line{Call: call, Request: req, Status: r.StatusCode(), Body: json.RawMessage("null")}
	body := r.GetBody()
	if len(body) != 0 {
		if err := generatedDecode(r, l.Status); err != nil {
			Fail(call, err)
		}
	}
	var decoded any
	var derr error
	switch _, none := any(new(T)).(*NoBody); {
	case l.Status >= 200 && l.Status < 300 && none:
		if len(body) != 0 {
			derr = fmt.Errorf("a body where the document says there is none")
		}
	case l.Status >= 200 && l.Status < 300:
		v := new(T)
		derr, decoded = strict(body, v), v
	default:
		v := new(E)
		derr, decoded = strict(body, v), v
	}
	switch {
	case derr != nil:
		l.Body, _ = json.Marshal(string(body))
		l.Undecoded = true
		fmt.Fprintf(os.Stderr, "%s: the %d response does not decode into the generated type: %v\n", call, l.Status, derr)
	case decoded != nil:
		typed, err := json.Marshal(decoded)
		if err != nil {
			Fail(call, err)
			return
		}
		l.Body = typed
	}
	out, err := json.Marshal(l)
	if err != nil {
		Fail(call, err)
		return
	}
	fmt.Println(string(out))
}
