#include "snap/api_error.h"

#include <utility>

namespace snap {

ApiError::ApiError(ErrorCode code, std::string message)
    : Error(code, "api", std::string(to_string(code)) + ": " + message), message_(std::move(message)) {}

}  // namespace snap
