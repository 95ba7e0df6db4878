// What an ApiServer answers itself, before looking at its endpoints: /healthz, /metrics
// and /openapi.json, each to whom it is for (docs/observability.md, "Who can scrape
// /metrics").
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
inline constexpr std::string_view kOpenApiPath = "/openapi.json";

// The reply to `method` `path` from `from`, or nullopt when the server's endpoints
// decide. `metrics` gives the exposition text (called only when it is served); `openapi`
// is the server's OpenAPI document (openapi.h):
//  - kLocal (loopback): /healthz, /metrics and /openapi.json;
//  - kCallers (the server's own network): /healthz and /openapi.json (what its callers
//    may call is theirs to read); /metrics is left to the endpoints, which cannot have
//    it, so it is a 404 like any unknown path;
//  - kScraper (its metrics network): GET /metrics and nothing else.
std::optional<HttpReply> answer_builtin(std::string_view method, std::string_view path, Audience from,
                                        const std::function<std::string()>& metrics, const std::string& openapi);

}  // namespace snap::api_detail
