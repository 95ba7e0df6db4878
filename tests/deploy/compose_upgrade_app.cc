// catalog: a program written for compose_upgrade_e2e_test, compiled into three builds of
// one app from this one source (SNAP_UPGRADE_VERSION = 1, 2 or 3), as a team's successive
// releases are: each is built into the same output directory over the previous one and
// deployed with `docker-compose up -d` over the running deployment.
//
// An API server keeps items in a PostgreSQL-backed KeyValueStore; commands write and read
// them through it (DIR/bin/NAME), and a job counts its runs in the store.
//
//   v1  the store without indexes; PUT, GET and DELETE of one item; a slow PUT (the handler
//       waits before it writes: a call still in flight when its server is replaced)
//   v2  v1, and: GET answers `served_by: v2` (a changed handler), the store gains the
//       index `by-owner`, and GET /api/owners/{owner}/items reads it (a new endpoint) --
//       changes a client of v1 does not notice
//   v3  v2, and the index `by-color` with GET /api/colors/{color}/items
//
//   compose_upgrade_v1 build --out DIR
//   DIR/bin/put-items PREFIX COUNT OWNER COLOR      items PREFIX-0 ... PREFIX-(COUNT-1)
//   DIR/bin/get-items PREFIX COUNT                  one line each: ID OWNER COLOR N SERVED_BY
//   DIR/bin/owner-items OWNER                       (v2, v3) the ids the index gives, one a line
#include <chrono>
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "snap/api_server.h"
#include "snap/app.h"
#include "snap/cli_command.h"
#include "snap/job.h"
#include "snap/key_value_store.h"
#include "snap/main.h"
#include "snap/persona.h"
#include "snap/postgres.h"

#ifndef SNAP_UPGRADE_VERSION
#error "SNAP_UPGRADE_VERSION (1, 2 or 3) selects the build"
#endif
#define SNAP_UPGRADE_STR2(x) #x
#define SNAP_UPGRADE_STR(x) SNAP_UPGRADE_STR2(x)
constexpr const char* kVersion = "v" SNAP_UPGRADE_STR(SNAP_UPGRADE_VERSION);

struct Item {
  std::string id;
  std::string owner;
  std::string color;
  std::int64_t n = 0;
};
BOOST_DESCRIBE_STRUCT(Item, (), (id, owner, color, n))

struct ItemId {
  std::string id;
};
BOOST_DESCRIBE_STRUCT(ItemId, (), (id))

// What GET answers: the item, and which build's handler answered.
struct ItemView {
  Item item;
  std::string served_by;
};
BOOST_DESCRIBE_STRUCT(ItemView, (), (item, served_by))

struct SlowPut {
  Item item;
  std::int64_t delay_ms = 0;
};
BOOST_DESCRIBE_STRUCT(SlowPut, (), (item, delay_ms))

struct ItemList {
  std::vector<std::string> ids;
};
BOOST_DESCRIBE_STRUCT(ItemList, (), (ids))

struct OwnerQuery {
  std::string owner;
};
BOOST_DESCRIBE_STRUCT(OwnerQuery, (), (owner))

struct ColorQuery {
  std::string color;
};
BOOST_DESCRIBE_STRUCT(ColorQuery, (), (color))

struct PutItemsArgs {
  std::string prefix;
  std::int64_t count = 0;
  std::string owner;
  std::string color;
};
BOOST_DESCRIBE_STRUCT(PutItemsArgs, (), (prefix, count, owner, color))

struct ItemsArgs {
  std::string prefix;
  std::int64_t count = 0;
};
BOOST_DESCRIBE_STRUCT(ItemsArgs, (), (prefix, count))

namespace {

std::vector<snap::IndexSpec> indexes() {
  std::vector<snap::IndexSpec> out;
#if SNAP_UPGRADE_VERSION >= 2
  out.push_back(snap::typed_index<Item>("by-owner", 1, [](std::string_view, const Item& i) {
    return std::vector<snap::IndexEntry>{{i.owner, nullptr}};
  }));
#endif
#if SNAP_UPGRADE_VERSION >= 3
  out.push_back(snap::typed_index<Item>("by-color", 1, [](std::string_view, const Item& i) {
    return std::vector<snap::IndexEntry>{{i.color, nullptr}};
  }));
#endif
  return out;
}

std::string item_id(const std::string& prefix, std::int64_t i) { return prefix + "-" + std::to_string(i); }

[[maybe_unused]] ItemList ids_of(const std::vector<snap::IndexMatch>& matches) {
  ItemList list;
  for (const snap::IndexMatch& m : matches) list.ids.push_back(m.key);
  return list;
}

void define_app(snap::App& app) {
  auto& db = app.add<snap::Postgres>("db");
  auto& items = app.add<snap::KeyValueStore>("items", db, indexes());
  auto& server = app.add<snap::ApiServer>("api");
  server.uses(items);

  auto put = server.endpoint<Item, void>("PUT", "/api/items/{id}", [&items](snap::PersonaContext& ctx, const Item& i) {
    items.open<Item>(ctx).set(i.id, i);
  });
  auto get = server.endpoint<ItemId, ItemView>(
      "GET", "/api/items/{id}", [&items](snap::PersonaContext& ctx, const ItemId& request) {
        std::optional<Item> item = items.open<Item>(ctx).get(request.id);
        if (!item) throw snap::ApiError(snap::ErrorCode::kNotFound, "no item " + request.id);
        return ItemView{*item, kVersion};
      });
  auto remove = server.endpoint<ItemId, void>(
      "DELETE", "/api/items/{id}",
      [&items](snap::PersonaContext& ctx, const ItemId& request) { items.open<Item>(ctx).del(request.id); });
  // Waits, then writes: a call its server is asked to stop in the middle of. The line on
  // the container's log says it is in flight.
  server.endpoint<SlowPut, void>("POST", "/api/slow-items", [&items](snap::PersonaContext& ctx, const SlowPut& s) {
    std::cout << "slow-items: " << s.item.id << " started" << std::endl;
    std::this_thread::sleep_for(std::chrono::milliseconds(s.delay_ms));
    items.open<Item>(ctx).set(s.item.id, s.item);
  });
#if SNAP_UPGRADE_VERSION >= 2
  auto by_owner = server.endpoint<OwnerQuery, ItemList>(
      "GET", "/api/owners/{owner}/items", [&items](snap::PersonaContext& ctx, const OwnerQuery& q) {
        return ids_of(items.open(ctx).index("by-owner").get(q.owner));
      });
#endif
#if SNAP_UPGRADE_VERSION >= 3
  auto by_color = server.endpoint<ColorQuery, ItemList>(
      "GET", "/api/colors/{color}/items", [&items](snap::PersonaContext& ctx, const ColorQuery& q) {
        return ids_of(items.open(ctx).index("by-color").get(q.color));
      });
#endif

  // Runs once per build deployed (docs/deploy.md, "Jobs run once per build"): counts its
  // runs in the item `job-runs`, so that a test sees how often it ran.
  app.add<snap::Job>("count-runs", [&items](snap::PersonaContext& ctx) {
       const Item after = items.open<Item>(ctx).modify("job-runs", [](const std::optional<Item>& before) {
         return Item{"job-runs", "jobs", "none", (before ? before->n : 0) + 1};
       });
       std::cout << "count-runs: run " << after.n << " (" << kVersion << ")" << std::endl;
       return 0;
     }).uses(items);

  app.add<snap::CliCommand>("put-items", "Write items PREFIX-0 .. PREFIX-(COUNT-1)", snap::args_of<PutItemsArgs>(),
                            [put](snap::PersonaContext& ctx, const PutItemsArgs& a) {
                              for (std::int64_t i = 0; i < a.count; ++i) put(ctx, Item{item_id(a.prefix, i), a.owner, a.color, i});
                              std::cout << "put " << a.count << " items" << std::endl;
                              return 0;
                            })
      .uses(put);
  app.add<snap::CliCommand>("get-items", "Print items PREFIX-0 .. PREFIX-(COUNT-1)", snap::args_of<ItemsArgs>(),
                            [get](snap::PersonaContext& ctx, const ItemsArgs& a) {
                              int missing = 0;
                              for (std::int64_t i = 0; i < a.count; ++i) {
                                try {
                                  const ItemView v = get(ctx, ItemId{item_id(a.prefix, i)});
                                  std::cout << v.item.id << " " << v.item.owner << " " << v.item.color << " " << v.item.n
                                            << " " << v.served_by << "\n";
                                } catch (const snap::ApiError& e) {
                                  if (e.code() != snap::ErrorCode::kNotFound) throw;
                                  std::cout << "missing " << item_id(a.prefix, i) << "\n";
                                  ++missing;
                                }
                              }
                              std::cout << std::flush;
                              return missing == 0 ? 0 : 1;
                            })
      .uses(get);
  app.add<snap::CliCommand>("get-item", "Print one item", snap::args_of<ItemId>(),
                            [get](snap::PersonaContext& ctx, const ItemId& id) {
                              const ItemView v = get(ctx, id);
                              std::cout << v.item.id << " " << v.item.owner << " " << v.item.color << " " << v.item.n
                                        << " " << v.served_by << std::endl;
                              return 0;
                            })
      .uses(get);
  app.add<snap::CliCommand>("delete-items", "Delete items PREFIX-0 .. PREFIX-(COUNT-1)", snap::args_of<ItemsArgs>(),
                            [remove](snap::PersonaContext& ctx, const ItemsArgs& a) {
                              for (std::int64_t i = 0; i < a.count; ++i) remove(ctx, ItemId{item_id(a.prefix, i)});
                              std::cout << "deleted " << a.count << " items" << std::endl;
                              return 0;
                            })
      .uses(remove);
#if SNAP_UPGRADE_VERSION >= 2
  app.add<snap::CliCommand>("owner-items", "Print the ids of an owner's items (the by-owner index)",
                            snap::args_of<OwnerQuery>(), [by_owner](snap::PersonaContext& ctx, const OwnerQuery& q) {
                              for (const std::string& id : by_owner(ctx, q).ids) std::cout << id << "\n";
                              std::cout << std::flush;
                              return 0;
                            })
      .uses(by_owner);
#endif
#if SNAP_UPGRADE_VERSION >= 3
  app.add<snap::CliCommand>("color-items", "Print the ids of the items of a color (the by-color index)",
                            snap::args_of<ColorQuery>(), [by_color](snap::PersonaContext& ctx, const ColorQuery& q) {
                              for (const std::string& id : by_color(ctx, q).ids) std::cout << id << "\n";
                              std::cout << std::flush;
                              return 0;
                            })
      .uses(by_color);
#endif
}

}  // namespace

int main(int argc, char** argv) { return snap::run(argc, argv, "catalog", define_app); }
