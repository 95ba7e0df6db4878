// The header in which a typed call names its caller's build (App::build_id), and a
// version-skew refusal its server's (version_skew.h). Private to snap_api.
#pragma once

#include <string_view>

namespace snap::api_detail {

inline constexpr std::string_view kBuildHeader = "Snap-Build";

}  // namespace snap::api_detail
