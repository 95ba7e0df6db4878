// An ApiServer's endpoints described (docs/api.md, "OpenAPI"): the request and response
// schemas its manifest records, and the OpenAPI 3.1 document made from them alone, so
// that what the build writes, what GET /openapi.json serves and what a tool reads from
// the log are one description. Private to snap_api.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "snap/json_schema.h"

namespace snap::api_detail {

// An endpoint as its description sees it.
struct EndpointTypes {
  std::string_view method;
  std::string_view path;  // the template, "/api/customer/{id}"
  bool idempotent = false;
  ShapeOf request = nullptr;   // null: Endpoint<void, Res>
  ShapeOf response = nullptr;  // null: a void response
};

// What ApiServer::config() records of its endpoints:
//   endpoints: [{"method", "path", "idempotent", "request": SCHEMA, "response": SCHEMA}]
//     (request or response left out when void)
//   schemas:   {NAME: SCHEMA} for every struct they reach, a struct elsewhere being
//              {"$ref": "#/schemas/NAME"}
// NAME is the struct's C++ name without its namespaces ("Customer"); when two structs
// share that name, both take the whole name with "." for "::" ("shop.Customer"). Other
// characters than letters, digits, '.', '-' and '_' become '_' ("Page<Customer>" is
// "Page_Customer"). "Error" is the error format's schema: a struct of that name takes its
// whole name. Throws std::invalid_argument naming the types when two types still get one
// name (a struct of the same name in two anonymous namespaces), or a struct outside any
// namespace is named Error.
struct Described {
  boost::json::array endpoints;
  boost::json::object schemas;
};
Described describe_endpoints(const std::vector<EndpointTypes>& endpoints);

// The operationId of a route: the method in lower case, then each literal segment and
// `By` + each {parameter}, every word capitalised and everything but letters and digits
// dropped: GET /api/customer/{id} is getApiCustomerById, POST /api/order-items is
// postApiOrderItems.
std::string operation_id(std::string_view method, std::string_view path);

// The OpenAPI 3.1.0 document of a server called `title` (its id) from its config() alone
// (what the manifest records): "endpoints" and "schemas" as describe_endpoints() makes
// them, and "authentication" when the server checks its callers (a bearer token, or a
// hook whose challenge is Bearer too: components/securitySchemes "bearer", required by
// every operation). Pretty-printed (2-space indent, a final newline), keys sorted except
// a schema's properties (declaration order), so the same config always gives the same
// bytes.
std::string openapi_document(std::string_view title, const boost::json::object& config);

}  // namespace snap::api_detail
