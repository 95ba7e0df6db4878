// KeyValueStore: a Store (snap/store.h) declared as a component of the app, so its table
// name comes from its Id and its indexes (with their versions) are in the manifest.
//
//   auto& orders = app.add<snap::KeyValueStore>("orders", std::vector<snap::IndexSpec>{by_customer});
//   api.uses(orders);
//   ... in api's body:  snap::Store<Order> typed(orders.open(ctx));
//
// Where the data lives depends on the mode: in dev mode, in memory inside this process;
// otherwise in PostgreSQL, at the libpq connection string in $SNAP_POSTGRES (read live
// when the store is first opened). A store holds data the program changes at runtime,
// so it cannot be used during startup: open() then throws PhaseError.
//
// Thread safety: open() may be called from any persona thread; the store is shared.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "snap/component.h"
#include "snap/store.h"

namespace snap {

class PersonaContext;

class KeyValueStore final : public Component {
 public:
  KeyValueStore(const Init& init, std::vector<IndexSpec> indexes = {});
  ~KeyValueStore() override;

  // Opens the store on first use (creating tables, rebuilding changed indexes), for the
  // persona running `ctx`. Throws UsesError when that persona does not use the store,
  // StoreError kUnavailable when PostgreSQL is not configured or not reachable.
  JsonStore& open(const PersonaContext& ctx) const;
  // The table name: the Id's safe name.
  std::string table() const { return id().safe_name(); }
  boost::json::object config() const override;

 private:
  std::vector<IndexSpec> indexes_;
  mutable std::once_flag opened_;
  mutable std::unique_ptr<JsonStore> store_;
};

}  // namespace snap
