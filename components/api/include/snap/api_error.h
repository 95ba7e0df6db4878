// ApiError: an error that crosses a service boundary as an error. A handler throws
// `snap::ApiError(snap::ErrorCode::kNotFound, "no customer 7")`; the caller of the typed
// endpoint catches an ApiError with the same code and message, whether the call was
// direct (dev) or HTTP (deployed).
//
// Codes follow gRPC / Encore: each says what the *caller* should do (fix its input,
// retry later, authenticate...), and maps to one HTTP status. On the wire an error is
// the response status plus one JSON body, the only error format:
//
//   HTTP/1.1 404 Not Found
//   {"code":"not_found","message":"no customer 7"}
//
// The message is for the caller. An exception that is not an ApiError becomes
// `internal` with a fixed message; its own text goes to the server's log only.
//
// Thread safety: immutable values.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace snap {

enum class ErrorCode {
  kCanceled,            // 499 the caller gave up
  kUnknown,             // 500 an error response the client could not classify
  kInvalidArgument,     // 400 the request is wrong: fix it, do not retry
  kDeadlineExceeded,    // 504 no answer in time; the request may or may not have run
  kNotFound,            // 404
  kAlreadyExists,       // 409
  kPermissionDenied,    // 403 authenticated but not allowed
  kResourceExhausted,   // 429 a quota or limit: back off
  kFailedPrecondition,  // 412 the system is not in a state for this request
  kAborted,             // 409 a conflict (concurrency): retry the whole operation
  kOutOfRange,          // 400
  kUnimplemented,       // 501
  kInternal,            // 500 a bug on the server side; details are in its log only
  kUnavailable,         // 503 the server cannot be reached or is stopping: retry later
  kDataLoss,            // 500
  kUnauthenticated,     // 401
};

// "not_found", "invalid_argument"... (the wire form).
std::string_view to_string(ErrorCode code);
// The wire form back to a code; nullopt for an unknown name.
std::optional<ErrorCode> error_code_from_string(std::string_view name);
// The HTTP status the code is sent with.
int http_status(ErrorCode code);
// The code for an HTTP status that came without a readable error body (a proxy's 502,
// a 413 from the server's own limits): 4xx/5xx families mapped as Encore does.
ErrorCode error_code_for_status(int status);

class ApiError : public std::runtime_error {
 public:
  ApiError(ErrorCode code, std::string message);
  ErrorCode code() const { return code_; }
  // The message as given (what() is "not_found: no customer 7").
  const std::string& message() const { return message_; }

 private:
  ErrorCode code_;
  std::string message_;
};

}  // namespace snap
