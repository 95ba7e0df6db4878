#include "snap/key_value_store.h"

#include "snap/app.h"
#include "snap/membrane.h"
#include "snap/persona.h"
#include "snap/postgres.h"

namespace snap {

KeyValueStore::KeyValueStore(const Init& init, std::vector<IndexSpec> indexes)
    : Component(init, "KeyValueStore"), indexes_(std::move(indexes)) {}

KeyValueStore::KeyValueStore(const Init& init, const Postgres& database, std::vector<IndexSpec> indexes)
    : Component(init, "KeyValueStore"), indexes_(std::move(indexes)), database_(&database) {
  uses(database);
}

KeyValueStore::~KeyValueStore() = default;

boost::json::object KeyValueStore::config() const {
  boost::json::object versions;
  for (const IndexSpec& spec : indexes_) versions[spec.name] = spec.version;
  return {{"table", table()}, {"indexes", std::move(versions)}};
}

JsonStore& KeyValueStore::open(const PersonaContext& ctx) const {
  ctx.require_uses(*this);
  std::call_once(opened_, [this, &ctx] {
    const StoreOptions options{table(), indexes_};
    if (app().mode() == Mode::kDev) {
      store_ = open_memory_store(options);
      return;
    }
    PostgresOptions postgres;
    if (database_ != nullptr) {
      postgres.connection = database_->connection(ctx);
    } else {
      const auto placement = app().build_state().get("snap.placement");
      const bool local = placement && placement->is_string() && placement->as_string() == "local";
      const auto connection = local ? ctx.membrane().env("SNAP_POSTGRES") : std::nullopt;
      if (!connection || connection->empty()) {
        throw StoreError(StoreError::Code::kUnavailable,
                         "store " + id().str() +
                             " has no database: declare one (app.add<snap::Postgres>(\"db\")) and pass it to the "
                             "store, or, in a --local build, set SNAP_POSTGRES to a libpq connection string");
      }
      postgres.connection = *connection;
    }
    store_ = open_postgres_store(postgres, options);
  });
  if (!store_) {
    throw StoreError(StoreError::Code::kUnavailable, "store " + id().str() + " could not be opened earlier");
  }
  return *store_;
}

}  // namespace snap
