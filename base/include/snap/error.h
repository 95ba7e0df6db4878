// snap::Error: the one base of the library's exceptions. Each carries a canonical code
// (ErrorCode: gRPC's and abseil's set, which says what the *caller* should do) and a
// detail, the specific reason in the raising layer's terms ("log.truncated",
// "divergence.different_call", "store.unavailable"). The code alone decides the two
// statuses an error becomes:
//
//   exit_status(error)  the process's exit status when the error ends a lifecycle command
//   http_status(code)   the HTTP status an ApiError is sent with (docs/api.md)
//
// Subclasses that carry more keep it: LogError::code() is its LogErrorCode,
// StoreError::code() its StoreError::Code, FileError::code() the operating system's
// std::error_code, Divergence its reason, expected and actual calls. Those accessors
// hide Error::code(); through an `const Error&` code() is always the canonical code.
//
// Thread safety: immutable values.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

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
// Every code, in the enum's order.
std::vector<ErrorCode> all_error_codes();

// The HTTP status a code is sent with (gRPC's names, Encore's statuses; docs/api.md):
//
//   canceled 499             unknown 500              invalid_argument 400
//   deadline_exceeded 504    not_found 404            already_exists 409
//   permission_denied 403    resource_exhausted 429   failed_precondition 412
//   aborted 409              out_of_range 400         unimplemented 501
//   internal 500             unavailable 503          data_loss 500
//   unauthenticated 401
int http_status(ErrorCode code);
// The code for an HTTP status that came without a readable error body (a proxy's 502,
// a 413 from the server's own limits): 4xx/5xx families mapped as Encore does.
ErrorCode error_code_for_status(int status);

class Error : public std::runtime_error {
 public:
  // `detail` is a dotted name, "LAYER.REASON" or "LAYER" ("log.truncated", "usage").
  Error(ErrorCode code, std::string detail, const std::string& message)
      : std::runtime_error(message), code_(code), detail_(std::move(detail)) {}

  ErrorCode code() const noexcept { return code_; }
  const std::string& detail() const noexcept { return detail_; }

 private:
  ErrorCode code_;
  std::string detail_;
};

// Exit statuses of a lifecycle command (docs/lifecycle.md, "Exit statuses").
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitLogError = 2;
inline constexpr int kExitDivergence = 3;
inline constexpr int kExitNondeterminism = 4;
// Not an error's: `build --fail-on-breaking` refused a build whose API breaks the
// previous build's clients, and kept the previous build.
inline constexpr int kExitBreakingChange = 5;
inline constexpr int kExitUsage = 64;

// The exit status of an error that ends a lifecycle command: one switch over its code.
// The library's errors take the code of their row:
//
//   code                 status  raised as
//   invalid_argument     64      UsageError: the command line (or a command's arguments)
//   data_loss            2       LogError, whatever its LogErrorCode: the log is unusable
//   failed_precondition  3       Divergence, ManifestMismatch: this binary is not the one
//                                the log was recorded by (rebuild, or keep the old shape)
//   unimplemented        4       NondeterminismError: startup read an input the membrane
//                                does not see
//   any other code       1       the program failed (MembraneClosed, PhaseError,
//                                UsesError... are `internal`: bugs in the program)
//
// The code decides, whoever raised the error: an ApiError or a StoreError a program lets
// escape exits with its code's row (a StoreError about a bad key, `invalid_argument`,
// exits 64); catch it to choose another status.
int exit_status(const Error& error);

}  // namespace snap
