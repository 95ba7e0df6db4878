#include "snap/error.h"

#include <array>

namespace snap {

namespace {
struct CodeInfo {
  ErrorCode code;
  std::string_view name;
  int status;
};
// The gRPC code names and Encore's HTTP statuses (encore.dev/docs/go/primitives/api-errors).
constexpr std::array<CodeInfo, 16> kCodes = {{
    {ErrorCode::kCanceled, "canceled", 499},
    {ErrorCode::kUnknown, "unknown", 500},
    {ErrorCode::kInvalidArgument, "invalid_argument", 400},
    {ErrorCode::kDeadlineExceeded, "deadline_exceeded", 504},
    {ErrorCode::kNotFound, "not_found", 404},
    {ErrorCode::kAlreadyExists, "already_exists", 409},
    {ErrorCode::kPermissionDenied, "permission_denied", 403},
    {ErrorCode::kResourceExhausted, "resource_exhausted", 429},
    {ErrorCode::kFailedPrecondition, "failed_precondition", 412},
    {ErrorCode::kAborted, "aborted", 409},
    {ErrorCode::kOutOfRange, "out_of_range", 400},
    {ErrorCode::kUnimplemented, "unimplemented", 501},
    {ErrorCode::kInternal, "internal", 500},
    {ErrorCode::kUnavailable, "unavailable", 503},
    {ErrorCode::kDataLoss, "data_loss", 500},
    {ErrorCode::kUnauthenticated, "unauthenticated", 401},
}};
}  // namespace

std::string_view to_string(ErrorCode code) {
  for (const auto& c : kCodes) {
    if (c.code == code) return c.name;
  }
  return "unknown";
}

std::optional<ErrorCode> error_code_from_string(std::string_view name) {
  for (const auto& c : kCodes) {
    if (c.name == name) return c.code;
  }
  return std::nullopt;
}

std::vector<ErrorCode> all_error_codes() {
  std::vector<ErrorCode> codes;
  for (const auto& c : kCodes) codes.push_back(c.code);
  return codes;
}

int http_status(ErrorCode code) {
  for (const auto& c : kCodes) {
    if (c.code == code) return c.status;
  }
  return 500;
}

ErrorCode error_code_for_status(int status) {
  switch (status) {
    case 400: return ErrorCode::kInvalidArgument;
    case 401: return ErrorCode::kUnauthenticated;
    case 403: return ErrorCode::kPermissionDenied;
    case 404: return ErrorCode::kNotFound;
    case 408: return ErrorCode::kDeadlineExceeded;
    case 409: return ErrorCode::kAlreadyExists;
    case 412: return ErrorCode::kFailedPrecondition;
    case 413: return ErrorCode::kResourceExhausted;
    case 429: return ErrorCode::kResourceExhausted;
    case 431: return ErrorCode::kResourceExhausted;
    case 499: return ErrorCode::kCanceled;
    case 501: return ErrorCode::kUnimplemented;
    case 502: return ErrorCode::kUnavailable;
    case 503: return ErrorCode::kUnavailable;
    case 504: return ErrorCode::kDeadlineExceeded;
    default: break;
  }
  if (status >= 400 && status < 500) return ErrorCode::kInvalidArgument;
  if (status >= 500) return ErrorCode::kInternal;
  return ErrorCode::kUnknown;
}

int exit_status(const Error& error) {
  switch (error.code()) {
    case ErrorCode::kInvalidArgument: return kExitUsage;
    case ErrorCode::kDataLoss: return kExitLogError;
    case ErrorCode::kFailedPrecondition: return kExitDivergence;
    case ErrorCode::kUnimplemented: return kExitNondeterminism;
    case ErrorCode::kCanceled:
    case ErrorCode::kUnknown:
    case ErrorCode::kDeadlineExceeded:
    case ErrorCode::kNotFound:
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kPermissionDenied:
    case ErrorCode::kResourceExhausted:
    case ErrorCode::kAborted:
    case ErrorCode::kOutOfRange:
    case ErrorCode::kInternal:
    case ErrorCode::kUnavailable:
    case ErrorCode::kUnauthenticated: return kExitFailure;
  }
  return kExitFailure;
}

}  // namespace snap
