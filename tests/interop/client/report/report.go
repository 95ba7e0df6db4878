// Package report writes what a generated client saw, one JSON line per call, for the C++
// test to compare with what the typed C++ client gets:
//
//	{"call":"get-customer-missing","status":404,"body":{"code":"not_found","message":"no customer nobody"}}
//
// "body" is the response decoded into the generated Go type and encoded again (so a field
// the document left out of a schema would be missing here), null for a response without
// one (204), and the raw text, as a JSON string, when it does not decode into the
// generated type ("undecoded": true then says so).
package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

// Response is what every generated *Response type has.
type Response interface {
	StatusCode() int
	GetBody() []byte
}

type line struct {
	Call      string          `json:"call"`
	Status    int             `json:"status"`
	Body      json.RawMessage `json:"body"`
	Undecoded bool            `json:"undecoded,omitempty"`
}

// Failed is set once a call could not be made or reported; main exits 1 then.
var Failed bool

func emit(l line) {
	out, err := json.Marshal(l)
	if err != nil {
		Fail(l.Call, err)
		return
	}
	fmt.Println(string(out))
}

// Fail reports a call that did not complete (a transport error, an encoding error).
func Fail(call string, err error) {
	Failed = true
	fmt.Fprintf(os.Stderr, "%s: %v\n", call, err)
}

// strict decodes body into v, refusing fields v's type does not have.
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

// NoBody is the success type of an operation that answers 204 without a body.
type NoBody struct{}

// Call reports one call made by the generated client: a success body is decoded into T,
// the generated type of the operation's success response (NoBody for none), an error
// body into E, the generated type of the Error schema. Both decodes are strict: a field
// the server sends and the schema lacks is reported as undecoded.
func Call[T, E any](call string, r Response, err error) {
	if err != nil {
		Fail(call, err)
		return
	}
	l := line{Call: call, Status: r.StatusCode(), Body: json.RawMessage("null")}
	body := r.GetBody()
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
	case decoded != nil:
		typed, err := json.Marshal(decoded)
		if err != nil {
			Fail(call, err)
			return
		}
		l.Body = typed
	}
	emit(l)
}
