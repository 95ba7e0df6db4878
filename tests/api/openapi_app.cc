// A program whose endpoints have every shape an OpenAPI description has to say
// (docs/api.md, "OpenAPI"): path, query and body parameters, optional members, nested
// structs, vectors, maps, every integer kind, a float and a double, an any-JSON member,
// void requests and responses, and two structs named Address in two namespaces (their
// schemas take their qualified names). openapi_test pins its documents; clients in other
// languages generated from them call it.
//
//   snap_openapi_app dev
//   snap_openapi_app build --out DIR --local && snap_openapi_app run api --log DIR/snapshot.snaplog
//
// Servers: "shop.api" (service shop-api) holds items in its process's memory; "status"
// (service status) answers its version. The command "exercise" calls every endpoint once
// with the typed C++ client and prints each result as JSON, one line each.
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "snap/api_server.h"
#include "snap/app.h"
#include "snap/main.h"
#include "snap/persona.h"

namespace shop {

struct Address {
  std::string city;
  std::optional<std::string> zip;
};
BOOST_DESCRIBE_STRUCT(Address, (), (city, zip))

struct Item {
  std::string id;
  std::string name;
  std::vector<std::string> tags;
  std::map<std::string, std::int64_t> stock;  // by warehouse
  Address address;
  std::optional<Address> billing;
  std::vector<Address> past;
  std::optional<std::int32_t> rank;
  boost::json::value extra;  // any JSON (null included)
};
BOOST_DESCRIBE_STRUCT(Item, (), (id, name, tags, stock, address, billing, past, rank, extra))

// GET /api/items/{id}?limit=N&verbose=B: `limit` tags at most, `verbose` keeps `extra`.
struct ItemQuery {
  std::string id;
  std::optional<std::int32_t> limit;
  bool verbose = false;
};
BOOST_DESCRIBE_STRUCT(ItemQuery, (), (id, limit, verbose))

// GET /api/items?tag=T&limit=N: the items holding tag T (all without it), sorted by id.
struct ListQuery {
  std::optional<std::string> tag;
  std::optional<std::uint32_t> limit;
};
BOOST_DESCRIBE_STRUCT(ListQuery, (), (tag, limit))

struct ItemList {
  std::vector<Item> items;
};
BOOST_DESCRIBE_STRUCT(ItemList, (), (items))

struct ItemId {
  std::string id;
};
BOOST_DESCRIBE_STRUCT(ItemId, (), (id))

// Every integer kind at its range, and the two floating-point ones.
struct Limits {
  std::int8_t i8 = 0;
  std::uint8_t u8 = 0;
  std::int16_t i16 = 0;
  std::uint16_t u16 = 0;
  std::int32_t i32 = 0;
  std::uint32_t u32 = 0;
  std::int64_t i64 = 0;
  std::uint64_t u64 = 0;
  float f32 = 0;
  double f64 = 0;
};
BOOST_DESCRIBE_STRUCT(Limits, (), (i8, u8, i16, u16, i32, u32, i64, u64, f32, f64))

// GET /api/counters/{n}?twice=B: n (or 2n) back; a numeric path parameter.
struct CounterQuery {
  std::uint16_t n = 0;
  std::optional<bool> twice;
};
BOOST_DESCRIBE_STRUCT(CounterQuery, (), (n, twice))

struct Count {
  std::int64_t value = 0;
};
BOOST_DESCRIBE_STRUCT(Count, (), (value))

}  // namespace shop

namespace carrier {

// Another Address: with shop::Address in one server, both schemas take their qualified
// names (shop.Address, carrier.Address).
struct Address {
  std::string line;
  std::string country;
};
BOOST_DESCRIBE_STRUCT(Address, (), (line, country))

struct Shipment {
  std::string item;
  shop::Address from;
  Address to;
};
BOOST_DESCRIBE_STRUCT(Shipment, (), (item, from, to))

}  // namespace carrier

namespace {

struct VersionInfo {
  std::string version;
};
BOOST_DESCRIBE_STRUCT(VersionInfo, (), (version))

// The items, in the server persona's process (each process of a local build has its own).
struct Items {
  std::mutex mutex;
  std::map<std::string, shop::Item> by_id;
};

struct ShopEndpoints {
  snap::Endpoint<shop::Item, shop::Item> create;              // POST /api/items
  snap::Endpoint<shop::Item, shop::Item> put;                 // PUT /api/items/{id}
  snap::Endpoint<shop::ItemQuery, shop::Item> get;            // GET /api/items/{id}
  snap::Endpoint<shop::ListQuery, shop::ItemList> list;       // GET /api/items
  snap::Endpoint<shop::ItemId, void> remove;                  // DELETE /api/items/{id}
  snap::Endpoint<void, void> reset;                           // POST /api/reset
  snap::Endpoint<void, std::uint64_t> count;                  // GET /api/count
  snap::Endpoint<shop::Limits, shop::Limits> limits;          // POST /api/limits
  snap::Endpoint<std::map<std::string, std::vector<std::int64_t>>, std::map<std::string, std::int64_t>> sums;
  snap::Endpoint<shop::CounterQuery, shop::Count> counter;    // GET /api/counters/{n}
  snap::Endpoint<carrier::Shipment, carrier::Shipment> ship;  // POST /api/shipments
  snap::Endpoint<void, VersionInfo> version;                  // GET /api/version on "status"
};

ShopEndpoints define_servers(snap::App& app, Items& items) {
  Items* store = &items;
  auto& api = app.scope("shop").add<snap::ApiServer>("api");
  ShopEndpoints e;
  e.create = api.endpoint<shop::Item, shop::Item>("POST", "/api/items", [store](const shop::Item& item) {
    std::lock_guard lock(store->mutex);
    if (!store->by_id.emplace(item.id, item).second) {
      throw snap::ApiError(snap::ErrorCode::kAlreadyExists, "item " + item.id + " exists");
    }
    return item;
  });
  e.put = api.endpoint<shop::Item, shop::Item>(
      "PUT", "/api/items/{id}",
      [store](const shop::Item& item) {
        std::lock_guard lock(store->mutex);
        store->by_id[item.id] = item;
        return item;
      },
      snap::EndpointOptions{.idempotent = true});
  e.get = api.endpoint<shop::ItemQuery, shop::Item>("GET", "/api/items/{id}", [store](const shop::ItemQuery& q) {
    std::lock_guard lock(store->mutex);
    const auto it = store->by_id.find(q.id);
    if (it == store->by_id.end()) throw snap::ApiError(snap::ErrorCode::kNotFound, "no item " + q.id);
    shop::Item item = it->second;
    if (q.limit) {
      if (*q.limit < 0) throw snap::ApiError(snap::ErrorCode::kInvalidArgument, "limit must not be negative");
      if (item.tags.size() > static_cast<std::size_t>(*q.limit)) item.tags.resize(static_cast<std::size_t>(*q.limit));
    }
    if (!q.verbose) item.extra = nullptr;
    return item;
  });
  e.list = api.endpoint<shop::ListQuery, shop::ItemList>("GET", "/api/items", [store](const shop::ListQuery& q) {
    std::lock_guard lock(store->mutex);
    shop::ItemList list;
    for (const auto& [id, item] : store->by_id) {
      if (q.limit && list.items.size() >= *q.limit) break;
      bool tagged = !q.tag;
      for (const std::string& t : item.tags) tagged |= t == *q.tag;
      if (tagged) list.items.push_back(item);
    }
    return list;
  });
  e.remove = api.endpoint<shop::ItemId, void>("DELETE", "/api/items/{id}", [store](const shop::ItemId& id) {
    std::lock_guard lock(store->mutex);
    if (store->by_id.erase(id.id) == 0) throw snap::ApiError(snap::ErrorCode::kNotFound, "no item " + id.id);
  });
  e.reset = api.endpoint<void, void>("POST", "/api/reset", [store] {
    std::lock_guard lock(store->mutex);
    store->by_id.clear();
  });
  e.count = api.endpoint<void, std::uint64_t>("GET", "/api/count", [store] {
    std::lock_guard lock(store->mutex);
    return static_cast<std::uint64_t>(store->by_id.size());
  });
  e.limits = api.endpoint<shop::Limits, shop::Limits>("POST", "/api/limits", [](const shop::Limits& l) { return l; });
  e.sums = api.endpoint<std::map<std::string, std::vector<std::int64_t>>, std::map<std::string, std::int64_t>>(
      "POST", "/api/sums", [](const std::map<std::string, std::vector<std::int64_t>>& lists) {
        std::map<std::string, std::int64_t> sums;
        for (const auto& [name, values] : lists) {
          std::int64_t sum = 0;
          for (std::int64_t v : values) sum += v;
          sums[name] = sum;
        }
        return sums;
      });
  e.counter = api.endpoint<shop::CounterQuery, shop::Count>("GET", "/api/counters/{n}",
                                                            [](const shop::CounterQuery& q) {
                                                              return shop::Count{q.twice.value_or(false) ? 2 * q.n : q.n};
                                                            });
  e.ship = api.endpoint<carrier::Shipment, carrier::Shipment>("POST", "/api/shipments",
                                                              [](const carrier::Shipment& s) { return s; });

  auto& status = app.add<snap::ApiServer>("status");
  e.version = status.endpoint<void, VersionInfo>("GET", "/api/version", [] { return VersionInfo{"1.0.0"}; });
  return e;
}

void define_app(snap::App& app, Items& items) {
  const ShopEndpoints e = define_servers(app, items);
  app.add<snap::Persona>("exercise", snap::PersonaKind::kCommand, [e](snap::PersonaContext& ctx) {
    const auto print = [](std::string_view what, const auto& value) {
      std::cout << what << " " << snap::encode_json(value) << std::endl;
    };
    e.reset(ctx);
    shop::Item shoe{"shoe 1", "Shoe", {"red", "leather"}, {{"north", 3}}, {"Oslo", "0150"}, std::nullopt, {}, 2, 7};
    print("create", e.create(ctx, shoe));
    shoe.name = "Red shoe";
    print("put", e.put(ctx, shoe));
    print("get", e.get(ctx, shop::ItemQuery{"shoe 1", 1, true}));
    print("list", e.list(ctx, shop::ListQuery{"red", std::nullopt}));
    print("count", e.count(ctx));
    print("limits", e.limits(ctx, shop::Limits{-128, 255, -32768, 65535, -2147483647 - 1, 4294967295u,
                                              INT64_MIN, UINT64_MAX, 1.5f, 0.25}));
    print("sums", e.sums(ctx, {{"a", {1, 2, 3}}, {"b", {}}}));
    print("counter", e.counter(ctx, shop::CounterQuery{21, true}));
    print("ship", e.ship(ctx, carrier::Shipment{"shoe 1", {"Oslo", std::nullopt}, {"1 Main St", "US"}}));
    e.remove(ctx, shop::ItemId{"shoe 1"});
    print("count", e.count(ctx));
    print("version", e.version(ctx));
    return 0;
  }).uses(e.create.server()).uses(e.version.server());
}

}  // namespace

int main(int argc, char** argv) {
  Items items;  // outlives the app: the handlers hold it
  return snap::run(argc, argv, "openapi-app", [&items](snap::App& app) { define_app(app, items); });
}
