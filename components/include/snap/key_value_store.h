// KeyValueStore: a Store (snap/store.h) declared as a component of the app, so its table
// name comes from its Id and its indexes (with their versions) are in the manifest.
//
//   auto by_customer = snap::typed_index<Order>("by-customer", 1, [](std::string_view, const Order& o) {
//     return std::vector<snap::IndexEntry>{{o.customer, o.total}};
//   });
//   auto& db = app.add<snap::Postgres>("db");
//   auto& orders = app.add<snap::KeyValueStore>("orders", db, std::vector<snap::IndexSpec>{by_customer});
//   app.add<snap::Job>("api", [&orders](snap::PersonaContext& ctx) {
//     orders.open<Order>(ctx).set("o-1", Order{"o-1", "alice", 12.5});
//     return 0;
//   }).uses(orders);
//
// open<T>(ctx) is the store as a Store<T>: values converted by the codec of the API's
// endpoints (snap/json_struct.h), so a struct reads the same from a request and from
// the store. open(ctx) is the untyped JsonStore.
//
// Where the data lives depends on the mode: in dev mode, in memory inside this process;
// otherwise in its database (snap/postgres.h), reached from the replayed build state and
// the database's password secret: the store uses the database, so a persona that uses
// the store receives that secret and joins that database's network. Several stores may
// share a database; each has its own tables. A store declared without a database works
// only in dev, or in a --local build with $SNAP_POSTGRES set (a libpq connection string,
// read live when the store is first opened). A store holds data the program changes at
// runtime, so it cannot be used during startup: open() then throws PhaseError.
//
// Thread safety: open() may be called from any persona thread; the store is shared.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <vector>

#include "snap/component.h"
#include "snap/store.h"

namespace snap {

class PersonaContext;
class Postgres;

class KeyValueStore final : public Component {
 public:
  KeyValueStore(const Init& init, std::vector<IndexSpec> indexes = {});
  // A store whose tables live in `database` (owned by the app, like every component).
  KeyValueStore(const Init& init, const Postgres& database, std::vector<IndexSpec> indexes = {});
  ~KeyValueStore() override;

  // Opens the store on first use (creating tables, rebuilding changed indexes, repairing
  // what builds without some of its indexes wrote: docs/store.md), for the persona
  // running `ctx`. Throws UsesError when that persona does not use the store, StoreError
  // kUnavailable when it has no database (outside dev) or the database is not
  // reachable, SecretUnavailable when the database's password is missing. A failed
  // open is tried again by the next call; calls that come while one open runs share its
  // outcome (so each waits one RetryPolicy budget at most), and a database that cannot
  // be reached is logged once until an open succeeds. In a recorded request
  // (snap/episode.h) the store is opened on its first operation, whose error it then is.
  JsonStore& open(const PersonaContext& ctx) const;
  // open(ctx) as a typed view (snap/store.h, Store<T>); throws as open(ctx).
  template <typename T>
  Store<T> open(const PersonaContext& ctx) const {
    return Store<T>(open(ctx));
  }
  // The table name: the Id's safe name.
  const std::string& table() const { return table_; }
  // The database it lives in when deployed; null for a store declared without one.
  const Postgres* database() const { return database_; }
  boost::json::object config() const override;

 private:
  JsonStore& open_real(const PersonaContext& ctx) const;
  std::unique_ptr<JsonStore> open_new(const PersonaContext& ctx) const;

  std::vector<IndexSpec> indexes_;
  // Made once: a recorded request builds its view of the store from them (snap/episode.h).
  std::string table_;
  std::vector<std::string> index_names_;
  const Postgres* database_ = nullptr;
  mutable std::atomic<JsonStore*> opened_{nullptr};  // store_, once open: read without the mutex
  mutable std::mutex open_mutex_;
  mutable std::condition_variable open_finished_;
  // Guarded by open_mutex_.
  mutable std::unique_ptr<JsonStore> store_;
  mutable bool opening_ = false;          // an open is running
  mutable std::uint64_t open_attempts_ = 0;  // opens finished, successful or not
  mutable std::exception_ptr open_error_;   // how the last one failed
  mutable bool outage_logged_ = false;      // an unreachable database was logged, not yet an open
};

}  // namespace snap
