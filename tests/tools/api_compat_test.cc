// snap/api_compat.h on manifests of real ApiServers: each test declares a customer server
// with one version of its types (v1, the base, against a namespace holding the change),
// starts it in dev, and compares the two manifests. Customer is both the request of
// POST /api/customer and the response of GET /api/customer/{id}, so one change to it shows
// both directions: what breaks old clients sending it, and what breaks old clients reading
// it. Every test asserts the exact lists of messages.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "../support/fake_system.h"
#include "snap/api_compat.h"
#include "snap/api_server.h"
#include "snap/app.h"
#include "snap/lifecycle.h"
#include "snap/log_reader.h"

namespace v1 {
struct Address {
  std::string city;
  std::string zip;
};
BOOST_DESCRIBE_STRUCT(Address, (), (city, zip))
struct Item {
  std::string sku;
  std::int32_t quantity = 0;
};
BOOST_DESCRIBE_STRUCT(Item, (), (sku, quantity))
struct Customer {
  std::string id;
  std::string name;
  std::optional<std::string> nickname;
  Address address;
  std::vector<Item> items;
  std::vector<std::string> tags;
  std::map<std::string, Item> stock;
};
BOOST_DESCRIBE_STRUCT(Customer, (), (id, name, nickname, address, items, tags, stock))
struct CustomerId {
  std::string id;
};
BOOST_DESCRIBE_STRUCT(CustomerId, (), (id))
struct Node {
  std::string name;
  std::vector<Node> children;
};
BOOST_DESCRIBE_STRUCT(Node, (), (name, children))
}  // namespace v1

// A new required member, email, and a new optional one, phone.
namespace added {
struct Customer {
  std::string id;
  std::string name;
  std::optional<std::string> nickname;
  v1::Address address;
  std::vector<v1::Item> items;
  std::vector<std::string> tags;
  std::map<std::string, v1::Item> stock;
  std::string email;
  std::optional<std::string> phone;
};
BOOST_DESCRIBE_STRUCT(Customer, (), (id, name, nickname, address, items, tags, stock, email, phone))
}  // namespace added

// name (required) and nickname (optional) removed.
namespace removed {
struct Customer {
  std::string id;
  v1::Address address;
  std::vector<v1::Item> items;
  std::vector<std::string> tags;
  std::map<std::string, v1::Item> stock;
};
BOOST_DESCRIBE_STRUCT(Customer, (), (id, address, items, tags, stock))
}  // namespace removed

// name is now optional, nickname required.
namespace swapped {
struct Customer {
  std::string id;
  std::optional<std::string> name;
  std::string nickname;
  v1::Address address;
  std::vector<v1::Item> items;
  std::vector<std::string> tags;
  std::map<std::string, v1::Item> stock;
};
BOOST_DESCRIBE_STRUCT(Customer, (), (id, name, nickname, address, items, tags, stock))
}  // namespace swapped

// address.zip a number, items[].quantity narrower, stock{}.quantity wider, tags' elements
// may be null.
namespace retyped {
struct Address {
  std::string city;
  std::int32_t zip = 0;
};
BOOST_DESCRIBE_STRUCT(Address, (), (city, zip))
struct Item {
  std::string sku;
  std::uint8_t quantity = 0;
};
BOOST_DESCRIBE_STRUCT(Item, (), (sku, quantity))
struct StockItem {
  std::string sku;
  std::int64_t quantity = 0;
};
BOOST_DESCRIBE_STRUCT(StockItem, (), (sku, quantity))
struct Customer {
  std::string id;
  std::string name;
  std::optional<std::string> nickname;
  Address address;
  std::vector<Item> items;
  std::vector<std::optional<std::string>> tags;
  std::map<std::string, StockItem> stock;
};
BOOST_DESCRIBE_STRUCT(Customer, (), (id, name, nickname, address, items, tags, stock))
}  // namespace retyped

// address a list of addresses.
namespace reshaped {
struct Customer {
  std::string id;
  std::string name;
  std::optional<std::string> nickname;
  std::vector<v1::Address> address;
  std::vector<v1::Item> items;
  std::vector<std::string> tags;
  std::map<std::string, v1::Item> stock;
};
BOOST_DESCRIBE_STRUCT(Customer, (), (id, name, nickname, address, items, tags, stock))
}  // namespace reshaped

// Another name, the same shape: no change.
namespace renamed {
struct Client {
  std::string id;
  std::string name;
  std::optional<std::string> nickname;
  v1::Address address;
  std::vector<v1::Item> items;
  std::vector<std::string> tags;
  std::map<std::string, v1::Item> stock;
};
BOOST_DESCRIBE_STRUCT(Client, (), (id, name, nickname, address, items, tags, stock))
}  // namespace renamed

// Numbers: an integer that becomes a double, any value that becomes a string, a float
// that becomes a double.
namespace numbers_v1 {
struct Amount {
  std::int32_t value = 0;
  boost::json::value extra;
  float ratio = 0;
};
BOOST_DESCRIBE_STRUCT(Amount, (), (value, extra, ratio))
}  // namespace numbers_v1
namespace numbers_v2 {
struct Amount {
  double value = 0;
  std::string extra;
  double ratio = 0;
};
BOOST_DESCRIBE_STRUCT(Amount, (), (value, extra, ratio))
}  // namespace numbers_v2

// A tree that holds itself, with a new optional member.
namespace tree {
struct Node {
  std::string name;
  std::vector<Node> children;
  std::optional<std::string> note;
};
BOOST_DESCRIBE_STRUCT(Node, (), (name, children, note))
}  // namespace tree

namespace snap {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr const char* kPost = "POST /api/customer (shop.customer-server): ";
constexpr const char* kGet = "GET /api/customer/{id} (shop.customer-server): ";

// The manifest of an app "shop" whose server "customer-server" `declare` fills.
Manifest manifest_of(const std::function<void(ApiServer&)>& declare) {
  testing::FakeSystem system;
  auto app = start_dev_app("shop", [&](App& app) { declare(app.add<ApiServer>("customer-server")); }, system, {});
  return app->manifest();
}

// POST /api/customer takes a Customer, GET /api/customer/{id} answers one.
template <typename Customer>
void customer_endpoints(ApiServer& api) {
  api.endpoint<Customer, v1::CustomerId>("POST", "/api/customer", [](const Customer&) { return v1::CustomerId{}; });
  api.endpoint<v1::CustomerId, Customer>("GET", "/api/customer/{id}", [](const v1::CustomerId&) { return Customer{}; });
}

std::vector<std::string> messages(const std::vector<ApiChange>& changes) {
  std::vector<std::string> out;
  for (const ApiChange& c : changes) out.push_back(c.message);
  return out;
}

std::string text(const ApiDiff& diff) {
  std::ostringstream out;
  api_text(diff, out);
  return out.str();
}

// The changes from the v1 server to the one `declare` makes.
ApiDiff from_v1(const std::function<void(ApiServer&)>& declare) {
  return diff_apis(manifest_of(customer_endpoints<v1::Customer>), manifest_of(declare));
}

TEST(ApiCompat, TheSameTypesAreNoChange) {
  const ApiDiff diff = from_v1(customer_endpoints<v1::Customer>);
  EXPECT_TRUE(diff.empty());
  EXPECT_EQ(text(diff), "api: no change\n");
}

TEST(ApiCompat, ARenamedStructOfTheSameShapeIsNoChange) {
  EXPECT_TRUE(from_v1(customer_endpoints<renamed::Client>).empty());
}

// New required request field: breaking. New optional request field, new response
// fields: compatible.
TEST(ApiCompat, NewFields) {
  const ApiDiff diff = from_v1(customer_endpoints<added::Customer>);
  EXPECT_THAT(messages(diff.breaking),
              ElementsAre(std::string(kPost) + "request field \"email\" is new and required: old clients will be refused"));
  EXPECT_THAT(messages(diff.compatible),
              ElementsAre(std::string(kPost) + "request field \"phone\" is new and optional",
                          std::string(kGet) + "response field \"email\" is new: old clients ignore it",
                          std::string(kGet) + "response field \"phone\" is new: old clients ignore it"));
  EXPECT_EQ(diff.breaking.at(0).server, "shop.customer-server");
  EXPECT_EQ(diff.breaking.at(0).endpoint, "POST /api/customer");
  EXPECT_EQ(diff.breaking.at(0).field, "email");
}

// Removed response fields: breaking, required or not. Removed request fields: compatible.
TEST(ApiCompat, RemovedFields) {
  const ApiDiff diff = from_v1(customer_endpoints<removed::Customer>);
  EXPECT_THAT(messages(diff.breaking),
              ElementsAre(std::string(kGet) + "response field \"name\" is removed: old clients require it",
                          std::string(kGet) +
                              "response field \"nickname\" is removed: old clients that read it will not find it"));
  EXPECT_THAT(messages(diff.compatible),
              ElementsAre(std::string(kPost) + "request field \"name\" is removed: old clients' value is ignored",
                          std::string(kPost) + "request field \"nickname\" is removed: old clients' value is ignored"));
}

// Optional -> required breaks a request; required -> optional breaks a response.
TEST(ApiCompat, OptionalAndRequired) {
  const ApiDiff diff = from_v1(customer_endpoints<swapped::Customer>);
  EXPECT_THAT(messages(diff.breaking),
              ElementsAre(std::string(kPost) +
                              "request field \"nickname\" was optional and is now required: old clients that leave "
                              "it out will be refused",
                          std::string(kGet) +
                              "response field \"name\" was required and is now optional: old clients require it"));
  EXPECT_THAT(messages(diff.compatible),
              ElementsAre(std::string(kPost) + "request field \"name\" was required and is now optional",
                          std::string(kGet) + "response field \"nickname\" was optional and is now required"));
}

// Nested structs, arrays and maps, by path. A narrower integer breaks a request and not a
// response, a wider one the other way round; an element that may be null breaks a
// response.
TEST(ApiCompat, RetypedFields) {
  const ApiDiff diff = from_v1(customer_endpoints<retyped::Customer>);
  EXPECT_THAT(
      messages(diff.breaking),
      ElementsAre(
          std::string(kPost) + "request field \"address.zip\" is retyped: string -> integer: old clients will be refused",
          std::string(kPost) +
              "request field \"items[].quantity\" is narrowed: integer [-2147483648, 2147483647] -> integer [0, 255]: "
              "old clients' values outside the new range will be refused",
          std::string(kGet) + "response field \"address.zip\" is retyped: string -> integer: old clients will not read it",
          std::string(kGet) + "response field \"tags[]\" may now be null: old clients will not read it",
          std::string(kGet) +
              "response field \"stock{}.quantity\" is widened: integer [-2147483648, 2147483647] -> integer "
              "[-9223372036854775808, 9223372036854775807]: old clients will not read values outside integer "
              "[-2147483648, 2147483647]"));
  EXPECT_THAT(
      messages(diff.compatible),
      ElementsAre(std::string(kPost) + "request field \"tags[]\" now accepts null",
                  std::string(kPost) +
                      "request field \"stock{}.quantity\" is widened: integer [-2147483648, 2147483647] -> integer "
                      "[-9223372036854775808, 9223372036854775807]",
                  std::string(kGet) +
                      "response field \"items[].quantity\" is narrowed: integer [-2147483648, 2147483647] -> "
                      "integer [0, 255]"));
  EXPECT_EQ(diff.breaking.at(1).field, "items[].quantity");
}

// An integer read as a number, a float as a double, any value as a string: what one side
// holds every value of is compatible that way only.
TEST(ApiCompat, NumbersAndAnyValue) {
  const auto declare = []<typename Amount>(Amount*) {
    return [](ApiServer& api) { api.endpoint<Amount, Amount>("POST", "/api/amount", [](const Amount& a) { return a; }); };
  };
  const ApiDiff diff = diff_apis(manifest_of(declare(static_cast<numbers_v1::Amount*>(nullptr))),
                                 manifest_of(declare(static_cast<numbers_v2::Amount*>(nullptr))));
  const std::string at = "POST /api/amount (shop.customer-server): ";
  EXPECT_THAT(messages(diff.breaking),
              ElementsAre(at + "request field \"extra\" is retyped: any value -> string: old clients will be refused",
                          at + "response field \"value\" is retyped: integer -> number: old clients will not read it",
                          at + "response field \"ratio\" is widened: number float -> number double: old clients will "
                               "not read values outside number float"));
  EXPECT_THAT(messages(diff.compatible),
              ElementsAre(at + "request field \"value\" is widened: integer -> number",
                          at + "request field \"ratio\" is widened: number float -> number double",
                          at + "response field \"extra\" is now always string (was any value)"));
}

TEST(ApiCompat, AStructBecomingAnArrayIsRetyped) {
  const ApiDiff diff = from_v1(customer_endpoints<reshaped::Customer>);
  EXPECT_THAT(messages(diff.breaking),
              ElementsAre(std::string(kPost) +
                              "request field \"address\" is retyped: Address -> array: old clients will be refused",
                          std::string(kGet) +
                              "response field \"address\" is retyped: Address -> array: old clients will not read it"));
  EXPECT_THAT(diff.compatible, IsEmpty());
}

TEST(ApiCompat, ARemovedEndpointBreaksANewOneDoesNot) {
  const ApiDiff diff = from_v1([](ApiServer& api) {
    api.endpoint<v1::Customer, v1::CustomerId>("POST", "/api/customer", [](const v1::Customer&) { return v1::CustomerId{}; });
    api.endpoint<v1::CustomerId, void>("DELETE", "/api/customer/{id}", [](const v1::CustomerId&) {});
  });
  EXPECT_THAT(messages(diff.breaking),
              ElementsAre(std::string(kGet) + "removed: old clients calling it will get 404 not_found"));
  EXPECT_THAT(messages(diff.compatible),
              ElementsAre("DELETE /api/customer/{id} (shop.customer-server): new endpoint"));
}

// A path or method changed, the types kept: one change, not removed + new.
TEST(ApiCompat, AChangedPathOrMethodIsOneMove) {
  const ApiDiff diff = from_v1([](ApiServer& api) {
    api.endpoint<v1::Customer, v1::CustomerId>("PUT", "/api/customer", [](const v1::Customer&) { return v1::CustomerId{}; });
    api.endpoint<v1::CustomerId, v1::Customer>("GET", "/api/customers/{id}",
                                               [](const v1::CustomerId&) { return v1::Customer{}; });
  });
  EXPECT_THAT(messages(diff.breaking),
              ElementsAre(std::string(kPost) + "moved to PUT /api/customer: old clients calling it will get 404 not_found",
                          std::string(kGet) +
                              "moved to GET /api/customers/{id}: old clients calling it will get 404 not_found"));
  EXPECT_THAT(diff.compatible, IsEmpty());
}

// A request or response to or from void breaks, whichever way.
TEST(ApiCompat, VoidChanges) {
  const auto declare = [](bool typed) {
    return [typed](ApiServer& api) {
      if (typed) {
        api.endpoint<v1::CustomerId, v1::CustomerId>("POST", "/api/reset", [](const v1::CustomerId& id) { return id; });
        api.endpoint<void, void>("POST", "/api/ping", [] {});
      } else {
        api.endpoint<void, void>("POST", "/api/reset", [] {});
        api.endpoint<v1::CustomerId, v1::CustomerId>("POST", "/api/ping", [](const v1::CustomerId& id) { return id; });
      }
    };
  };
  const ApiDiff diff = diff_apis(manifest_of(declare(false)), manifest_of(declare(true)));
  EXPECT_THAT(messages(diff.breaking),
              ElementsAre("POST /api/reset (shop.customer-server): request was void and is now CustomerId: old "
                          "clients send none and will be refused",
                          "POST /api/reset (shop.customer-server): response was void and is now CustomerId: old "
                          "clients expect 204 No Content",
                          "POST /api/ping (shop.customer-server): request is now void (was CustomerId): what old "
                          "clients send is no longer read",
                          "POST /api/ping (shop.customer-server): response is now void (was CustomerId): old clients "
                          "expect one and get 204 No Content"));
  EXPECT_THAT(diff.compatible, IsEmpty());
}

TEST(ApiCompat, IdempotenceChangesAreCompatible) {
  const auto declare = [](bool idempotent) {
    return [idempotent](ApiServer& api) {
      api.endpoint<void, void>("PUT", "/api/flag", [] {}, EndpointOptions{.idempotent = idempotent});
    };
  };
  EXPECT_THAT(messages(diff_apis(manifest_of(declare(false)), manifest_of(declare(true))).compatible),
              ElementsAre("PUT /api/flag (shop.customer-server): now idempotent: callers retry it after a failure"));
  const ApiDiff back = diff_apis(manifest_of(declare(true)), manifest_of(declare(false)));
  EXPECT_THAT(messages(back.compatible),
              ElementsAre("PUT /api/flag (shop.customer-server): no longer idempotent: old clients may still retry "
                          "it after a failure"));
  EXPECT_THAT(back.breaking, IsEmpty());
}

TEST(ApiCompat, ARemovedServerBreaksANewOneDoesNot) {
  testing::FakeSystem system;
  const Manifest orders = start_dev_app("shop", [](App& app) {
    app.add<ApiServer>("orders").endpoint<void, void>("POST", "/api/order", [] {});
  }, system, {})->manifest();
  const ApiDiff diff = diff_apis(manifest_of(customer_endpoints<v1::Customer>), orders);
  EXPECT_THAT(messages(diff.breaking),
              ElementsAre("shop.customer-server: server removed: old clients will reach none of its 2 endpoints"));
  EXPECT_THAT(messages(diff.compatible), ElementsAre("shop.orders: new server with 1 endpoint"));
  EXPECT_EQ(diff.breaking.at(0).endpoint, "");
}

// A struct that holds itself is followed once: its change is reported where it is met.
TEST(ApiCompat, ARecursiveStructIsComparedOnce) {
  const auto declare = []<typename Node>(Node*) {
    return [](ApiServer& api) { api.endpoint<Node, Node>("POST", "/api/tree", [](const Node& n) { return n; }); };
  };
  const ApiDiff diff = diff_apis(manifest_of(declare(static_cast<v1::Node*>(nullptr))),
                                 manifest_of(declare(static_cast<tree::Node*>(nullptr))));
  EXPECT_THAT(diff.breaking, IsEmpty());
  EXPECT_THAT(messages(diff.compatible),
              ElementsAre("POST /api/tree (shop.customer-server): request field \"note\" is new and optional",
                          "POST /api/tree (shop.customer-server): response field \"note\" is new: old clients ignore it"));
}

TEST(ApiCompat, TheReportListsBreakingChangesFirst) {
  EXPECT_EQ(text(from_v1(customer_endpoints<swapped::Customer>)),
            "api: 2 breaking changes, 2 compatible changes\n"
            "  breaking: POST /api/customer (shop.customer-server): request field \"nickname\" was optional and is "
            "now required: old clients that leave it out will be refused\n"
            "  breaking: GET /api/customer/{id} (shop.customer-server): response field \"name\" was required and is "
            "now optional: old clients require it\n"
            "  compatible: POST /api/customer (shop.customer-server): request field \"name\" was required and is now "
            "optional\n"
            "  compatible: GET /api/customer/{id} (shop.customer-server): response field \"nickname\" was optional "
            "and is now required\n");
  ApiDiff compatible;
  compatible.compatible.resize(2);
  EXPECT_EQ(text(compatible).substr(0, text(compatible).find('\n')), "api: 2 compatible changes, no breaking change");
  ApiDiff breaking;
  breaking.breaking.resize(1);
  EXPECT_EQ(text(breaking).substr(0, text(breaking).find('\n')), "api: 1 breaking change");
}

// A log recorded before endpoints recorded their types: routes are compared, types are
// said to be not compared.
TEST(ApiCompat, ABuildWithoutRecordedTypesHasItsRoutesCompared) {
  const std::string golden = SNAP_GOLDEN_DIR;
  const Manifest before = LogReader::open(golden + "/customer-v1.snaplog")->manifest();
  const Manifest after = LogReader::open(golden + "/customer-v2.snaplog")->manifest();
  const ApiDiff diff = diff_apis(before, after);
  EXPECT_THAT(messages(diff.breaking),
              ElementsAre("GET /api/customer (customer.customer-server.api): removed: old clients calling it will get "
                          "404 not_found"));
  EXPECT_THAT(messages(diff.compatible),
              ElementsAre("GET /api/customer/{id} (customer.customer-server.api): new endpoint"));
  EXPECT_THAT(diff.not_compared,
              ElementsAre("customer.customer-server.api: request and response types not compared (the old build "
                          "predates their recording): only routes and idempotence were"));
}

}  // namespace
}  // namespace snap
