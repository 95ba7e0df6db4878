// Routes with path and query parameters (docs/api.md, "Routes"): how an endpoint's path
// template and request type become a request on the wire, and back. The one place both
// sides of a call bind: the Endpoint renders a request (render_request), the server
// matches a path (matches) and binds what arrived (bind_request, api_server.h) -- for HTTP
// and for dev's direct calls alike. Private to snap_api.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "snap/api_server.h"

namespace snap::api_detail {

struct RouteShape {
  struct Segment {
    std::string text;    // a literal segment, or the parameter's name
    bool param = false;  // `{name}`
    FieldKind kind = FieldKind::kString;  // a parameter's field kind
  };
  std::string method;
  std::string path;  // the template, as declared
  std::vector<Segment> segments;
  bool has_params = false;
  bool query = false;  // GET and DELETE: the request's fields travel as the query string
  RequestType request;
  ShapeOf response = nullptr;  // not for binding: the route's description (openapi.h); null for void
};

// Checks a declaration and makes its shape. Throws std::invalid_argument starting with
// `where` ("ApiServer ID: endpoint METHOD PATH") for a segment that is partly a parameter
// ("/a{b}"), an empty or repeated parameter name, a parameter the request has no field
// for (or one that is not a string, number or boolean), or a GET or DELETE request whose
// fields cannot all be query parameters.
RouteShape make_shape(const std::string& where, std::string_view method, std::string_view path, RequestType request);

// Two templates that would match the same paths ("/a/{id}" and "/a/{name}").
bool same_routes(const RouteShape& a, const RouteShape& b);
// Whether `path` (no query) is one of this route's paths.
bool matches(const RouteShape& shape, std::string_view path);

// The request as it travels; `request` is the JSON of the request struct (null for
// Endpoint<void, Res>, or for a body-only route whose body the caller encodes itself).
// Throws ApiError invalid_argument naming the endpoint and the field for a path
// parameter that has no value or an empty one.
WireRequest render_request(const RouteShape& shape, const boost::json::value& request);

}  // namespace snap::api_detail
