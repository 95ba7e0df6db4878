// Routes with path and query parameters: `GET /items/{id}` binds {id} to the request's
// field and the other fields to the query string; PUT reads the body and still binds the
// path. The same binding for dev's direct calls and for HTTP (one suite, both
// transports), what an outside client (curl) sends, the startup errors for a request
// that cannot be bound, and the rendering and binding themselves.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "raw_call.h"
#include "raw_http.h"
#include "route_binding.h"
#include "../support/fake_system.h"
#include "test_app.h"

namespace snap::apitest {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class Routes : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override { deployment_ = std::make_unique<Deployment>(GetParam()); }
  Endpoints& e() { return deployment_->endpoints(); }
  PersonaContext& client() { return deployment_->client(); }
  std::unique_ptr<Deployment> deployment_;
};

INSTANTIATE_TEST_SUITE_P(Api, Routes, ::testing::Values(Transport::kDev, Transport::kHttp),
                         [](const auto& info) { return to_string(info.param); });

TEST_P(Routes, APathParameterAndQueryFieldsRoundTrip) {
  // Characters that mean something in a path or a query: all percent-encoded on the way.
  const Item item{"a b/c?d&e=f%", 5, true, 0.25};
  EXPECT_EQ(e().get_item(client(), item), item);
  const Item plain{"x", std::nullopt, false, 0};  // an absent optional is left out
  EXPECT_EQ(e().get_item(client(), plain), plain);
  EXPECT_EQ(e().get_item_me(client()), "me");  // the literal route, beside the template
  EXPECT_EQ(e().put_item(client(), ItemTags{"i-9", {"red", "blue"}}), (ItemTags{"i-9", {"red", "blue"}}));
  EXPECT_EQ(e().delete_count(client(), Count{-42}), 42);
}

TEST_P(Routes, AnEmptyPathParameterIsTheCallersInvalidArgument) {
  try {
    e().get_item(client(), Item{"", 1, false, 0});
    FAIL() << "an empty path parameter was sent";
  } catch (const ApiError& err) {
    EXPECT_EQ(err.code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(err.message(), "GET /items/{id}: the path parameter {id} is empty");
  }
}

// What arrives from a client that is not snap binds the same way, and a value that does
// not fit its field is refused with the field's path, as a body's would be.
TEST_P(Routes, ABadQueryValueIsInvalidArgumentNamingTheField) {
  const std::size_t route = e().get_item.route();
  const auto call = [&](const std::string& target, std::size_t to) {
    return api_detail::RawCall::call(*e().api, client(), to, target, "");
  };
  EXPECT_EQ(boost::json::parse(call("/items/a%2Fb?verbose=true&limit=7&ratio=0&unknown=1", route)),
            boost::json::parse(R"({"id":"a/b","limit":7,"verbose":true,"ratio":0.0})"));
  const auto refused = [&](const std::string& target, std::size_t to) -> std::string {
    try {
      call(target, to);
    } catch (const ApiError& err) {
      EXPECT_EQ(err.code(), ErrorCode::kInvalidArgument) << target;
      return err.message();
    }
    ADD_FAILURE() << target << " was accepted";
    return "";
  };
  // A field that is not optional must be there, as in a body.
  EXPECT_EQ(refused("/items/x?verbose=true", route), "request: $.ratio: missing");
  EXPECT_EQ(refused("/items/x?limit=seven", route), "request: $.limit: expected integer, got \"seven\"");
  EXPECT_EQ(refused("/items/x?limit=99999999999", route), "request: $.limit: expected integer in range, got number 99999999999");
  EXPECT_EQ(refused("/items/x?verbose=yes", route), "request: $.verbose: expected boolean, got \"yes\"");
  EXPECT_EQ(refused("/items/x?ratio=1e999", route), "request: $.ratio: expected number, got \"1e999\"");
  EXPECT_EQ(refused("/items/x?limit=1&limit=2", route), "request: $.limit: given twice in the query string");
  EXPECT_EQ(refused("/items/x?limit=%zz", route), "request: $.limit: not valid percent-encoding: \"%zz\"");
  EXPECT_EQ(refused("/counts/abc", e().delete_count.route()), "request: $.n: expected integer, got \"abc\"");
}

// A program built before query strings sent a GET's request as its JSON body: read still.
TEST_P(Routes, AGetWithAJsonBodyFromAnOlderCallerStillBinds) {
  const std::string response =
      api_detail::RawCall::call(*e().api, client(), e().get_item.route(), "/items/p", R"({"limit":3,"verbose":true,"ratio":2,"id":"ignored"})");
  EXPECT_EQ(boost::json::parse(response), boost::json::parse(R"({"id":"p","limit":3,"verbose":true,"ratio":2.0})"));
}

// curl's view: a GET with a query string and no body, over real HTTP.
TEST(RoutesOverHttp, AnOutsideClientUsesThePathAndTheQueryString) {
  Deployment deployment(Transport::kHttp);
  const std::string response =
      raw_exchange(deployment.api_port(), "GET /items/shoe%201?limit=2&verbose=true&ratio=0.5 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(response, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(response, HasSubstr(R"({"id":"shoe 1","limit":2,"verbose":true,"ratio":5E-1})"));
  const std::string unknown = raw_exchange(deployment.api_port(), "GET /items HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(unknown, StartsWith("HTTP/1.1 404"));
  const std::string deeper = raw_exchange(deployment.api_port(), "GET /items/a/b HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(deeper, StartsWith("HTTP/1.1 404"));
}

// ---- declarations that cannot be bound: startup errors naming the endpoint and field ----

struct Tagged {
  std::string id;
  std::vector<std::string> tags;
};
BOOST_DESCRIBE_STRUCT(Tagged, (), (id, tags))

std::string declaration_error(const std::function<void(ApiServer&)>& declare) {
  std::string message;
  auto env = std::make_unique<testing::FakeSystem>();
  try {
    auto app = start_dev_app("routes", [&](App& app) { declare(app.add<ApiServer>("api")); }, *env, {});
  } catch (const std::invalid_argument& e) {
    message = e.what();
  }
  return message;
}

TEST(RouteDeclarations, ARequestThatCannotBeBoundIsAStartupErrorNamingTheEndpointAndField) {
  EXPECT_EQ(declaration_error([](ApiServer& api) {
              api.endpoint<Tagged, void>("GET", "/tagged", [](const Tagged&) {});
            }),
            "ApiServer routes.api: endpoint GET /tagged: the request field \"tags\" is not a string, number or "
            "boolean, so it cannot travel in a GET query string (send it with POST, PUT or PATCH)");
  EXPECT_EQ(declaration_error([](ApiServer& api) {
              api.endpoint<Item, void>("GET", "/items/{sku}", [](const Item&) {});
            }),
            "ApiServer routes.api: endpoint GET /items/{sku}: the path parameter {sku} has no field \"sku\" in the "
            "request");
  EXPECT_EQ(declaration_error([](ApiServer& api) {
              api.endpoint<Tagged, void>("PUT", "/tagged/{tags}", [](const Tagged&) {});
            }),
            "ApiServer routes.api: endpoint PUT /tagged/{tags}: the path parameter {tags} is the field \"tags\", "
            "which is not a string, number or boolean");
  EXPECT_EQ(declaration_error([](ApiServer& api) {
              api.endpoint<void, void>("DELETE", "/x/{id}", [] {});
            }),
            "ApiServer routes.api: endpoint DELETE /x/{id}: the path parameter {id} has no field \"id\" in the "
            "request (the request is not a described struct)");
  EXPECT_EQ(declaration_error([](ApiServer& api) {
              api.endpoint<std::vector<int>, void>("GET", "/numbers", [](const std::vector<int>&) {});
            }),
            "ApiServer routes.api: endpoint GET /numbers: a GET request travels as a query string, so its type must "
            "be a described struct of strings, numbers and booleans (send this one with POST, PUT or PATCH)");
  EXPECT_EQ(declaration_error([](ApiServer& api) {
              api.endpoint<Item, void>("GET", "/items/x{id}", [](const Item&) {});
            }),
            "ApiServer routes.api: endpoint GET /items/x{id}: \"x{id}\" is not a path parameter: a parameter is a "
            "whole segment, {name}");
  EXPECT_EQ(declaration_error([](ApiServer& api) {
              api.endpoint<Item, void>("GET", "/items/{id}", [](const Item&) {});
              api.endpoint<Count, void>("GET", "/items/{n}", [](const Count&) {});
            }),
            "ApiServer routes.api: endpoint GET /items/{n}: the same route as /items/{id}");
}

// ---- rendering and binding, directly ----

api_detail::RouteShape shape_of(std::string_view method, std::string_view path) {
  return api_detail::make_shape("test", method, path, api_detail::request_type<Item>());
}

TEST(RouteBinding, RenderingEncodesThePathAndTheQueryAndBindingReadsThemBack) {
  const api_detail::RouteShape get = shape_of("GET", "/items/{id}");
  const boost::json::value item = to_json(Item{"a b/ü", 3, false, 1.5});
  const api_detail::WireRequest wire = api_detail::render_request(get, item);
  EXPECT_EQ(wire.target, "/items/a%20b%2F%C3%BC?limit=3&verbose=false&ratio=1.5E0");
  EXPECT_EQ(wire.body, "");
  EXPECT_EQ(from_json<Item>(api_detail::bind_request(get, {wire.target, wire.body})), (Item{"a b/ü", 3, false, 1.5}));

  const api_detail::RouteShape put = shape_of("PUT", "/items/{id}");
  const api_detail::WireRequest body = api_detail::render_request(put, item);
  EXPECT_EQ(body.target, "/items/a%20b%2F%C3%BC");
  EXPECT_EQ(boost::json::parse(body.body), item);
  EXPECT_FALSE(api_detail::body_only(put));
  EXPECT_TRUE(api_detail::body_only(shape_of("POST", "/items")));
}

TEST(RouteBinding, MatchingTakesWholeNonEmptySegments) {
  const api_detail::RouteShape s = shape_of("GET", "/a/{id}/b");
  EXPECT_TRUE(api_detail::matches(s, "/a/1/b"));
  EXPECT_FALSE(api_detail::matches(s, "/a//b"));
  EXPECT_FALSE(api_detail::matches(s, "/a/1"));
  EXPECT_FALSE(api_detail::matches(s, "/a/1/b/c"));
  EXPECT_FALSE(api_detail::matches(s, "/x/1/b"));
}

}  // namespace
}  // namespace snap::apitest
