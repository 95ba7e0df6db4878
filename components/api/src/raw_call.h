// Calls a route with a request body as given, through the transport the environment
// chose: for tests of what the server does with a body that no typed Endpoint would send
// (unknown fields, a missing field, text that is not JSON). Not part of the public API.
#pragma once

#include <source_location>
#include <string>

#include "route_binding.h"
#include "snap/api_server.h"

namespace snap::api_detail {

struct RawCall {
  static std::string call(const ApiServer& server, const PersonaContext& caller, std::size_t route, std::string body,
                          std::source_location where = std::source_location::current()) {
    return server.call(caller, route, WireRequest{server.shape(route).path, std::move(body)}, where);
  }
  // The same with the target too (a path and query string as given).
  static std::string call(const ApiServer& server, const PersonaContext& caller, std::size_t route, std::string target,
                          std::string body, std::source_location where = std::source_location::current()) {
    return server.call(caller, route, WireRequest{std::move(target), std::move(body)}, where);
  }
};

}  // namespace snap::api_detail
