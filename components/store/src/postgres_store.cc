// The PostgreSQL backend: one table per store (key text COLLATE "C" primary key, value
// jsonb) and one per index, kept in step in the same transaction as every write.
// COLLATE "C" makes ORDER BY byte-wise, the order the memory backend's std::map keeps.
#include <pqxx/pqxx>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "store_backend.h"

namespace snap {

namespace {

std::string quoted(const std::string& identifier) { return "\"" + identifier + "\""; }

// An error a new connection may cure: refused, lost, or the server shutting down (57P..)
// or unreachable (08...).
bool connection_level(const pqxx::sql_error& e) {
  const std::string state = e.sqlstate();
  return state.rfind("57P", 0) == 0 || state.rfind("08", 0) == 0;
}

std::string_view view_of(const pqxx::field& f) { return std::string_view(f.c_str(), f.size()); }
json parse_json(const pqxx::field& f) { return boost::json::parse(view_of(f)); }

// A bounded pool of connections to one server, for one store's prepared statements.
class ConnectionPool {
 public:
  ConnectionPool(PostgresOptions options, std::function<void(pqxx::connection&)> prepare)
      : options_(std::move(options)), prepare_(std::move(prepare)) {}

  // Waits for a free connection, making one (with retries) when the pool has room.
  std::unique_ptr<pqxx::connection> acquire() {
    {
      std::unique_lock lock(mutex_);
      available_.wait(lock, [&] { return !idle_.empty() || open_ < options_.pool_size; });
      if (!idle_.empty()) {
        auto c = std::move(idle_.back());
        idle_.pop_back();
        return c;
      }
      ++open_;
    }
    try {
      return connect();
    } catch (...) {
      std::lock_guard lock(mutex_);
      --open_;
      available_.notify_one();
      throw;
    }
  }

  void release(std::unique_ptr<pqxx::connection> c, bool healthy) {
    std::lock_guard lock(mutex_);
    if (healthy && c && c->is_open()) {
      idle_.push_back(std::move(c));
    } else {
      --open_;
    }
    available_.notify_one();
  }

  // After a server restart every idle connection is dead: drop them all at once.
  void drop_idle() {
    std::lock_guard lock(mutex_);
    open_ -= idle_.size();
    idle_.clear();
    available_.notify_all();
  }

  const PostgresOptions& options() const { return options_; }

 private:
  std::unique_ptr<pqxx::connection> connect() {
    auto backoff = options_.retry.connect_backoff;
    std::string last;
    for (int attempt = 1; attempt <= options_.retry.connect_attempts; ++attempt) {
      try {
        auto c = std::make_unique<pqxx::connection>(options_.connection);
        prepare_(*c);
        return c;
      } catch (const pqxx::broken_connection& e) {
        last = e.what();
      } catch (const pqxx::sql_error& e) {
        if (!connection_level(e)) throw;
        last = e.what();
      }
      if (attempt < options_.retry.connect_attempts) {
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, options_.retry.max_backoff);
      }
    }
    while (!last.empty() && (last.back() == '\n' || last.back() == ' ')) last.pop_back();
    for (char& c : last) {
      if (c == '\n') c = ' ';
    }
    throw StoreError(StoreError::Code::kUnavailable,
                     "PostgreSQL unavailable after " + std::to_string(options_.retry.connect_attempts) +
                         " connection attempts (" + describe_target() + "): " + last);
  }

  std::string describe_target() const {
    // The connection string without its password.
    std::string out;
    std::size_t start = 0;
    const std::string& s = options_.connection;
    while (start < s.size()) {
      std::size_t end = s.find(' ', start);
      if (end == std::string::npos) end = s.size();
      const std::string part = s.substr(start, end - start);
      if (!part.empty() && part.rfind("password=", 0) != 0) out += (out.empty() ? "" : " ") + part;
      start = end + 1;
    }
    return out;
  }

  PostgresOptions options_;
  std::function<void(pqxx::connection&)> prepare_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  std::size_t open_ = 0;
};

class PostgresBackend final : public StoreBackend {
 public:
  PostgresBackend(const PostgresOptions& postgres, const StoreOptions& options)
      : name_(options.name),
        specs_(options.indexes),
        table_(safe_identifier(name_)),
        pool_(postgres, [this](pqxx::connection& c) { prepare(c); }) {
    for (const IndexSpec& spec : specs_) index_tables_.push_back(safe_identifier(name_ + "__" + spec.name));
    create_schema();
  }

  const std::string& name() const override { return name_; }
  bool has_index(std::string_view index) const override { return index_of(index) >= 0; }

  std::optional<json> get(std::string_view key) override {
    return run([&](pqxx::connection& c) -> std::optional<json> {
      pqxx::nontransaction tx(c);
      const pqxx::result r = tx.exec_prepared("get", std::string(key));
      if (r.empty()) return std::nullopt;
      return parse_json(r[0][0]);
    });
  }

  void set(std::string_view key, const json& value) override {
    const auto entries = entries_for(key, value);  // may throw: nothing written yet
    const std::string text = boost::json::serialize(value);
    run([&](pqxx::connection& c) {
      if (specs_.empty()) {
        // One statement is atomic on its own: no transaction round trips.
        pqxx::nontransaction tx(c);
        tx.exec_prepared("upsert", std::string(key), text);
        return 0;
      }
      pqxx::work tx(c);
      tx.exec_prepared("upsert", std::string(key), text);
      reindex(tx, key, entries);
      tx.commit();
      return 0;
    });
  }

  bool del(std::string_view key) override {
    return run([&](pqxx::connection& c) {
      if (specs_.empty()) {
        pqxx::nontransaction tx(c);
        return !tx.exec_prepared("delete", std::string(key)).empty();
      }
      pqxx::work tx(c);
      const bool existed = !tx.exec_prepared("delete", std::string(key)).empty();
      reindex(tx, key, {});
      tx.commit();
      return existed;
    });
  }

  json modify(std::string_view key, const std::function<json(const std::optional<json>&)>& fn) override {
    return run([&](pqxx::connection& c) {
      pqxx::work tx(c);
      const pqxx::result r = tx.exec_prepared("get_for_update", std::string(key));
      std::optional<json> current;
      if (!r.empty()) current = parse_json(r[0][0]);
      json next = fn(current);
      const auto entries = entries_for(key, next);
      const std::string text = boost::json::serialize(next);
      // For an absent key a plain INSERT: a concurrent modify that also saw it absent
      // fails with unique_violation and is retried, instead of silently overwriting.
      tx.exec_prepared(current ? "update" : "insert", std::string(key), text);
      if (!specs_.empty()) reindex(tx, key, entries);
      tx.commit();
      return next;
    });
  }

  std::vector<std::string> keys(const KeyPage& page) override {
    return run([&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      std::vector<std::string> out;
      for (const auto& row : tx.exec_prepared("keys", page.after, static_cast<long long>(page.limit))) {
        out.emplace_back(view_of(row[0]));
      }
      return out;
    });
  }

  std::vector<IndexMatch> index_get(std::string_view index, std::string_view index_key) override {
    const int i = index_of(index);
    return run([&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      std::vector<IndexMatch> out;
      for (const auto& row : tx.exec_prepared("index_get_" + std::to_string(i), std::string(index_key))) {
        out.push_back(IndexMatch{std::string(view_of(row[0])), parse_json(row[1])});
      }
      return out;
    });
  }

 private:
  using Entries = std::vector<std::vector<IndexEntry>>;

  int index_of(std::string_view index) const {
    for (std::size_t i = 0; i < specs_.size(); ++i) {
      if (specs_[i].name == index) return static_cast<int>(i);
    }
    return -1;
  }

  Entries entries_for(std::string_view key, const json& value) const {
    Entries out;
    for (const IndexSpec& spec : specs_) out.push_back(index_entries(name_, spec, key, value));
    return out;
  }

  void prepare(pqxx::connection& c) {
    const std::string t = quoted(table_);
    c.prepare("get", "SELECT value::text FROM " + t + " WHERE key = $1");
    c.prepare("get_for_update", "SELECT value::text FROM " + t + " WHERE key = $1 FOR UPDATE");
    c.prepare("upsert", "INSERT INTO " + t +
                            " (key, value) VALUES ($1, $2::jsonb) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value");
    c.prepare("insert", "INSERT INTO " + t + " (key, value) VALUES ($1, $2::jsonb)");
    c.prepare("update", "UPDATE " + t + " SET value = $2::jsonb WHERE key = $1");
    c.prepare("delete", "DELETE FROM " + t + " WHERE key = $1 RETURNING 1");
    c.prepare("keys", "SELECT key FROM " + t + " WHERE key > $1 ORDER BY key LIMIT $2");
    for (std::size_t i = 0; i < index_tables_.size(); ++i) {
      const std::string ix = quoted(index_tables_[i]);
      const std::string n = std::to_string(i);
      c.prepare("index_get_" + n, "SELECT key, inline::text FROM " + ix + " WHERE index_key = $1 ORDER BY key, seq");
      c.prepare("index_delete_" + n, "DELETE FROM " + ix + " WHERE key = $1");
      c.prepare("index_insert_" + n,
                "INSERT INTO " + ix + " (index_key, key, seq, inline) VALUES ($1, $2, $3, $4::jsonb)");
    }
  }

  void reindex(pqxx::transaction_base& tx, std::string_view key, const Entries& entries) {
    for (std::size_t i = 0; i < specs_.size(); ++i) {
      const std::string n = std::to_string(i);
      tx.exec_prepared("index_delete_" + n, std::string(key));
      if (i >= entries.size()) continue;
      int seq = 0;
      for (const IndexEntry& e : entries[i]) {
        tx.exec_prepared("index_insert_" + n, e.index_key, std::string(key), seq++, boost::json::serialize(e.inline_value));
      }
    }
  }

  // Creates the tables if absent and rebuilds indexes whose version changed, under an
  // advisory lock so that personas starting together do not race.
  void create_schema() {
    run([&](pqxx::connection& c) {
      pqxx::work tx(c);
      tx.exec("SELECT pg_advisory_xact_lock(hashtext(" + tx.quote("snap-store:" + table_) + "))");
      tx.exec("CREATE TABLE IF NOT EXISTS " + quoted(table_) +
              " (key text COLLATE \"C\" PRIMARY KEY, value jsonb NOT NULL)");
      tx.exec(
          "CREATE TABLE IF NOT EXISTS snap_index_versions (store text NOT NULL, index_name text NOT NULL, "
          "version integer NOT NULL, PRIMARY KEY (store, index_name))");
      for (std::size_t i = 0; i < specs_.size(); ++i) {
        const std::string ix = quoted(index_tables_[i]);
        tx.exec("CREATE TABLE IF NOT EXISTS " + ix +
                " (index_key text COLLATE \"C\" NOT NULL, key text COLLATE \"C\" NOT NULL, seq integer NOT NULL, "
                "inline jsonb NOT NULL, PRIMARY KEY (index_key, key, seq))");
        tx.exec("CREATE INDEX IF NOT EXISTS " + quoted(safe_identifier(index_tables_[i] + "_by_key")) + " ON " + ix +
                " (key)");
        const pqxx::result v = tx.exec_params(
            "SELECT version FROM snap_index_versions WHERE store = $1 AND index_name = $2", table_, specs_[i].name);
        if (!v.empty() && v[0][0].as<int>() == specs_[i].version) continue;
        rebuild_index(tx, i);
        tx.exec_params(
            "INSERT INTO snap_index_versions (store, index_name, version) VALUES ($1, $2, $3) "
            "ON CONFLICT (store, index_name) DO UPDATE SET version = EXCLUDED.version",
            table_, specs_[i].name, specs_[i].version);
      }
      tx.commit();
      return 0;
    });
  }

  void rebuild_index(pqxx::work& tx, std::size_t i) {
    const std::string ix = quoted(index_tables_[i]);
    tx.exec("DELETE FROM " + ix);
    const pqxx::result rows = tx.exec("SELECT key, value::text FROM " + quoted(table_) + " ORDER BY key");
    for (const auto& row : rows) {
      const std::string key(view_of(row[0]));
      int seq = 0;
      for (const IndexEntry& e : index_entries(name_, specs_[i], key, parse_json(row[1]))) {
        tx.exec_params("INSERT INTO " + ix + " (index_key, key, seq, inline) VALUES ($1, $2, $3, $4::jsonb)",
                       e.index_key, key, seq++, boost::json::serialize(e.inline_value));
      }
    }
  }

  // Runs `f` with a pooled connection. A lost connection is retried on a new one (the
  // transaction rolled back, so nothing happened); a conflict is retried with backoff;
  // a commit whose outcome is unknown is not retried.
  template <typename F>
  auto run(F&& f) -> decltype(f(std::declval<pqxx::connection&>())) {
    const RetryPolicy& policy = pool_.options().retry;
    int lost = 0, conflicts = 0;
    auto conflict_backoff = policy.conflict_backoff;
    auto lost_backoff = policy.connect_backoff;
    while (true) {
      auto c = pool_.acquire();
      try {
        auto result = f(*c);
        pool_.release(std::move(c), true);
        return result;
      } catch (const pqxx::in_doubt_error& e) {
        pool_.release(std::move(c), false);
        throw StoreError(StoreError::Code::kInDoubt, "store \"" + name_ + "\": commit outcome unknown: " + e.what());
      } catch (const pqxx::broken_connection& e) {
        pool_.release(std::move(c), false);
        pool_.drop_idle();
        if (++lost >= policy.connect_attempts) {
          throw StoreError(StoreError::Code::kUnavailable, "store \"" + name_ + "\": connection lost " +
                                                               std::to_string(lost) + " times: " + e.what());
        }
        std::this_thread::sleep_for(lost_backoff);
        lost_backoff = std::min(lost_backoff * 2, policy.max_backoff);
      } catch (const pqxx::transaction_rollback& e) {  // serialization failure, deadlock
        pool_.release(std::move(c), true);
        back_off_conflict(e, conflicts, conflict_backoff);
      } catch (const pqxx::unique_violation& e) {  // racing inserts in modify
        pool_.release(std::move(c), true);
        back_off_conflict(e, conflicts, conflict_backoff);
      } catch (const pqxx::sql_error& e) {
        if (connection_level(e)) {
          pool_.release(std::move(c), false);
          pool_.drop_idle();
          if (++lost >= policy.connect_attempts) {
            throw StoreError(StoreError::Code::kUnavailable, "store \"" + name_ + "\": " + e.what());
          }
          std::this_thread::sleep_for(lost_backoff);
          lost_backoff = std::min(lost_backoff * 2, policy.max_backoff);
          continue;
        }
        pool_.release(std::move(c), true);
        throw StoreError(StoreError::Code::kBackend, "store \"" + name_ + "\": " + e.what());
      } catch (...) {
        // StoreError from an indexer, a user's modify function, JSON errors: the
        // transaction rolled back with the connection's scope; the connection is fine.
        pool_.release(std::move(c), c && c->is_open());
        throw;
      }
    }
  }

  // Counts a conflict and waits before the next attempt, or gives up with kConflict.
  void back_off_conflict(const std::exception& e, int& conflicts, std::chrono::milliseconds& backoff) {
    if (++conflicts >= pool_.options().retry.conflict_attempts) {
      throw StoreError(StoreError::Code::kConflict, "store \"" + name_ + "\": still conflicting after " +
                                                        std::to_string(conflicts) + " attempts: " + e.what());
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(50));
  }

  std::string name_;
  std::vector<IndexSpec> specs_;
  std::string table_;
  std::vector<std::string> index_tables_;
  ConnectionPool pool_;
};

}  // namespace

std::unique_ptr<JsonStore> open_postgres_store(const PostgresOptions& postgres, const StoreOptions& options) {
  return std::make_unique<JsonStore>(std::make_unique<PostgresBackend>(postgres, options));
}

}  // namespace snap
