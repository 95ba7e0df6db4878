// ApiError: an error that crosses a service boundary as an error. A handler throws
// `snap::ApiError(snap::ErrorCode::kNotFound, "no customer 7")`; the caller of the typed
// endpoint catches an ApiError with the same code and message, whether the call was
// direct (dev) or HTTP (deployed).
//
// Codes (snap::ErrorCode, snap/error.h) follow gRPC / Encore: each says what the *caller*
// should do (fix its input, retry later, authenticate...), and maps to one HTTP status
// (http_status). On the wire an error is the response status plus one JSON body, the only
// error format:
//
//   HTTP/1.1 404 Not Found
//   {"code":"not_found","message":"no customer 7"}
//
// An error may also carry a reason: a machine-readable word under the code, for callers
// that act on one case of it ("version_skew" under failed_precondition: docs/api.md,
// "Version skew"). It travels as the body's "reason" field, left out when empty.
//
// The message is for the caller. A StoreError crosses with the code that says what to do
// (docs/api.md); any other exception becomes `internal` with a fixed message, its own text
// going to the server's log only.
//
// Thread safety: immutable values.
#pragma once

#include <string>

#include "snap/error.h"

namespace snap {

// code() is the code it was thrown with; detail() is "api".
class ApiError : public Error {
 public:
  ApiError(ErrorCode code, std::string message, std::string reason = {});
  // The message as given (what() is "not_found: no customer 7").
  const std::string& message() const { return message_; }
  // The reason as given; empty when there is none.
  const std::string& reason() const { return reason_; }

 private:
  std::string message_;
  std::string reason_;
};

}  // namespace snap
