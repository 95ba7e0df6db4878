// Whether a new build's API servers still serve the clients of an old one: the endpoints
// and request and response types each ApiServer's manifest entry records (docs/api.md,
// "In the manifest") compared between two manifests, every change classified breaking or
// compatible (docs/api.md, "Breaking changes", has the rules).
//
// The direction checked is the one a rolling upgrade lives through: clients built from
// OLD (other services not yet replaced, programs outside the system built against OLD's
// OpenAPI document) call servers already running NEW. So a request must still be
// accepted as OLD sent it -- a new required field or a narrower type breaks -- and a
// response must still be read as OLD reads it -- a removed field or a wider type breaks.
// The reverse (a NEW client reaching a server still on OLD) is not checked.
//
// Servers are matched by component id, endpoints by method and path; `$ref`s are followed
// into each side's "schemas", so a renamed struct of the same shape is no change. An
// endpoint gone while one of identical types appears is one change, "moved to".
//
// Thread safety: pure functions over values.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "snap/log.h"

namespace snap {

struct ApiChange {
  std::string server;    // the ApiServer's component id
  std::string endpoint;  // "POST /api/customer"; "" for a change to the whole server
  std::string field;     // "address.city", "items[].sku"; "" for the whole request or response
  // The line for people: endpoint, server, what changed and whom it breaks.
  std::string message;
};

struct ApiDiff {
  std::vector<ApiChange> breaking, compatible;
  // "SERVER: ..." for servers whose types could not be compared (a side recorded by a
  // build from before endpoints recorded their types): only their routes were.
  std::vector<std::string> not_compared;
  bool empty() const { return breaking.empty() && compatible.empty() && not_compared.empty(); }
};

// Every API change from `before` to `after`, in manifest order (servers, then endpoints).
ApiDiff diff_apis(const Manifest& before, const Manifest& after);

// Whether `manifest` holds an ApiServer: a build with none on either side has no API to
// report on.
bool has_api_servers(const Manifest& manifest);

// The report `snapshot diff` and `build` print: "api: SUMMARY", then a line per change,
// breaking first ("  breaking: MESSAGE", "  compatible: MESSAGE", "  not compared: ...").
// SUMMARY is "no change", "N compatible changes, no breaking change", "N breaking
// changes" or "N breaking changes, M compatible changes" (singular for one).
void api_text(const ApiDiff& diff, std::ostream& out);

}  // namespace snap
