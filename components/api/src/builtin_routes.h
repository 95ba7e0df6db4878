// What an ApiServer answers itself, before looking at its endpoints: /healthz and
// /metrics, each to whom it is for (docs/observability.md, "Who can scrape /metrics").
// Private to snap_api.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "http_server.h"

namespace snap::api_detail {

inline constexpr std::string_view kHealthPath = "/healthz";
inline constexpr std::string_view kMetricsPath = "/metrics";

// The reply to `method` `path` from `from`, or nullopt when the server's endpoints
// decide. `metrics` gives the exposition text (called only when it is served):
//  - kLocal (loopback): /healthz and /metrics;
//  - kCallers (the server's own network): /healthz only; /metrics is left to the
//    endpoints, which cannot have it, so it is a 404 like any unknown path;
//  - kScraper (its metrics network): GET /metrics and nothing else.
std::optional<HttpReply> answer_builtin(std::string_view method, std::string_view path, Audience from,
                                        const std::function<std::string()>& metrics);

}  // namespace snap::api_detail
