#include "snap/api_error.h"

#include <utility>

namespace snap {

ApiError::ApiError(ErrorCode code, std::string message, std::string reason)
    : Error(code, reason.empty() ? "api" : "api." + reason, std::string(to_string(code)) + ": " + message),
      message_(std::move(message)),
      reason_(std::move(reason)) {}

}  // namespace snap
