#include "snap/key_value_store.h"

#include <cstdio>

#include "snap/app.h"
#include "snap/environment.h"
#include "snap/episode.h"
#include "episode_store.h"
#include "snap/membrane.h"
#include "snap/persona.h"
#include "snap/postgres.h"

namespace snap {

KeyValueStore::KeyValueStore(const Init& init, std::vector<IndexSpec> indexes)
    : Component(init, "KeyValueStore"), indexes_(std::move(indexes)), table_(id().safe_name()) {
  for (const IndexSpec& spec : indexes_) index_names_.push_back(spec.name);
}

KeyValueStore::KeyValueStore(const Init& init, const Postgres& database, std::vector<IndexSpec> indexes)
    : KeyValueStore(init, std::move(indexes)) {
  database_ = &database;
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
  if (Episode* episode = current_episode()) {
    // A recorded (or replayed) request sees the store through the episode: each operation
    // is one of its inputs. Opening the real store is not (it happens once per process),
    // so it runs outside the episode, on the first operation; replay never opens it.
    return episode->attachment<JsonStore>(this, [&] {
      return make_episode_store(
          *episode,
          [this, &ctx]() -> JsonStore& {
            SuspendEpisode outside;
            return open_real(ctx);
          },
          table_, index_names_, app().environment().in_memory_stores() ? "memory" : "postgresql");
    });
  }
  return open_real(ctx);
}

JsonStore& KeyValueStore::open_real(const PersonaContext& ctx) const {
  if (JsonStore* store = opened_.load(std::memory_order_acquire)) return *store;
  std::unique_lock lock(open_mutex_);
  if (store_) return *store_;
  if (opening_) {
    // Another call is opening: its outcome is this call's too, so that while the database
    // is down a call waits for one open, not for each one queued before it.
    const std::uint64_t before = open_attempts_;
    open_finished_.wait(lock, [&] { return open_attempts_ != before; });
    if (store_) return *store_;
    std::rethrow_exception(open_error_);
  }
  opening_ = true;
  lock.unlock();
  std::unique_ptr<JsonStore> store;
  std::exception_ptr error;
  try {
    store = open_new(ctx);
  } catch (...) {
    error = std::current_exception();
  }
  lock.lock();
  opening_ = false;
  ++open_attempts_;
  open_error_ = error;
  open_finished_.notify_all();
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const StoreError& e) {
      if (e.code() == StoreError::Code::kUnavailable && !outage_logged_) {
        outage_logged_ = true;
        // One write, so that lines from threads do not interleave; the store itself logs
        // outages once open (PostgresOptions::log).
        std::fprintf(stderr, "snap: store %s cannot be opened; calls fail with kUnavailable until it can: %s\n",
                     id().str().c_str(), e.what());
      }
      throw;
    }
  }
  if (outage_logged_) {
    outage_logged_ = false;
    std::fprintf(stderr, "snap: store %s is open\n", id().str().c_str());
  }
  store_ = std::move(store);
  opened_.store(store_.get(), std::memory_order_release);
  return *store_;
}

std::unique_ptr<JsonStore> KeyValueStore::open_new(const PersonaContext& ctx) const {
  const StoreOptions options{table(), indexes_, &app().metrics()};
  if (app().environment().in_memory_stores()) return open_memory_store(options);
  PostgresOptions postgres;
  postgres.env = &app().env();
  if (database_ != nullptr) {
    postgres.connection = database_->connection(ctx);
  } else {
    const auto connection =
        app().environment().user_database_allowed() ? ctx.membrane().env("SNAP_POSTGRES") : std::nullopt;
    if (!connection || connection->empty()) {
      throw StoreError(StoreError::Code::kUnavailable,
                       "store " + id().str() +
                           " has no database: declare one (app.add<snap::Postgres>(\"db\")) and pass it to the "
                           "store, or, in a --local build, set SNAP_POSTGRES to a libpq connection string");
    }
    postgres.connection = *connection;
  }
  return open_postgres_store(postgres, options);
}

}  // namespace snap
