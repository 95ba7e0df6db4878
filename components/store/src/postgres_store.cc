// The PostgreSQL backend: one table per store (key text COLLATE "C" primary key, value
// jsonb, writer integer) and one per index, kept in step in the same transaction as every
// write. COLLATE "C" makes ORDER BY byte-wise, the order the memory backend's std::map
// keeps. `writer` says which set of indexes the row's last writer kept (docs/store.md,
// "Builds with different indexes"), so that a build can repair what another one left.
#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <mutex>
#include <pqxx/pqxx>
#include <thread>

#include "postgres_connect.h"
#include "snap/env.h"
#include "postgres_retry.h"
#include "store_backend.h"

namespace snap {

namespace store_detail {

namespace {

// An error a new connection may cure: the server shutting down or restarting (57P..) or
// a connection exception (08...). Either way the statement did not complete.
bool connection_level(const pqxx::sql_error& e) {
  const std::string state = e.sqlstate();
  return state.rfind("57P", 0) == 0 || state.rfind("08", 0) == 0;
}

// COMMIT (or END), however spelled, as libpqxx sends it to finish a transaction.
bool is_commit(std::string_view query) {
  const auto first = query.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return false;
  query.remove_prefix(first);
  const auto word = query.substr(0, query.find_first_of(" \t\r\n;"));
  auto equals = [&](std::string_view w) {
    return word.size() == w.size() && std::equal(word.begin(), word.end(), w.begin(), [](char a, char b) {
             return (a >= 'a' && a <= 'z' ? static_cast<char>(a - 'a' + 'A') : a) == b;
           });
  };
  return equals("COMMIT") || equals("END");
}

}  // namespace

Verdict classify(const std::exception& e, Work work) {
  // Most specific first: statement_completion_unknown is a transaction_rollback.
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) return Verdict::kInDoubt;
  if (dynamic_cast<const pqxx::statement_completion_unknown*>(&e) != nullptr) return Verdict::kInDoubt;
  if (dynamic_cast<const pqxx::transaction_rollback*>(&e) != nullptr) return Verdict::kConflict;
  if (dynamic_cast<const pqxx::unique_violation*>(&e) != nullptr) return Verdict::kConflict;
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    return work == Work::kAutocommitWrite ? Verdict::kInDoubt : Verdict::kReconnect;
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    // No SQLSTATE: the error came from libpq, not from the server -- libpqxx 6.4 reports a
    // connection lost mid-statement ("server closed the connection unexpectedly") this
    // way rather than as broken_connection. Whether the statement ran is unknown, so it is
    // a lost connection with the broken_connection rules, and COMMIT itself is in doubt.
    if (sql->sqlstate().empty()) {
      if (work == Work::kAutocommitWrite || is_commit(sql->query())) return Verdict::kInDoubt;
      return Verdict::kReconnect;
    }
    // An error *reply* means the statement failed, so even an autocommit write did not
    // commit: reconnecting is safe.
    return connection_level(*sql) ? Verdict::kReconnect : Verdict::kBackend;
  }
  if (dynamic_cast<const pqxx::pqxx_exception*>(&e) != nullptr) return Verdict::kBackend;
  return Verdict::kNotOurs;
}

std::string describe_target(const std::string& connection) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(connection.c_str(), &error);
  if (options == nullptr) {
    if (error != nullptr) PQfreemem(error);
    return "an unparsable connection string";
  }
  // In a fixed order, whatever the string's, so that messages are predictable.
  constexpr std::string_view kShown[] = {"host", "hostaddr", "port", "dbname", "user"};
  std::string out;
  for (std::string_view keyword : kShown) {
    for (const PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
      if (keyword != o->keyword || o->val == nullptr || *o->val == '\0') continue;
      out += (out.empty() ? "" : " ") + std::string(keyword) + "=" + o->val;
    }
  }
  PQconninfoFree(options);
  return out.empty() ? "libpq defaults" : out;
}

}  // namespace store_detail

namespace {

using store_detail::Verdict;
using store_detail::Work;

std::string quoted_identifier(const std::string& identifier) { return "\"" + identifier + "\""; }

// The store table's index on `writer`, named as the table of an index named "" would be:
// no index has that name, so no index table or store table can take it.
std::string writer_index_name(const std::string& table) { return index_table_name(table, ""); }

// What every store table's delete trigger runs: removes the deleted item's entries from
// every index table of the store, those of indexes the deleting build does not have
// included, so that no build leaves entries behind for a key that is gone. The list is
// read when the trigger runs, so it includes index tables created after the deleting
// build opened the store; a table dropped by hand is skipped, not an error.
constexpr const char* kDeleteEntriesFunction = R"(CREATE FUNCTION snap_store_delete_entries() RETURNS trigger
LANGUAGE plpgsql AS $f$
DECLARE
  ix text;
BEGIN
  FOR ix IN SELECT index_table FROM snap_index_versions WHERE store = TG_TABLE_NAME AND index_table IS NOT NULL LOOP
    IF to_regclass(quote_ident(ix)) IS NOT NULL THEN
      EXECUTE format('DELETE FROM %I WHERE key = $1', ix) USING OLD.key;
    END IF;
  END LOOP;
  RETURN NULL;
END
$f$)";

std::string_view view_of(const pqxx::field& f) { return std::string_view(f.c_str(), f.size()); }
json parse_json(const pqxx::field& f) { return store_detail::from_postgres_text(view_of(f)); }

// libpq messages end in newlines and may span lines; errors here are one line.
std::string one_line(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\n' || c == '\t' || c == '\r') c = ' ';
    if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
    out += c;
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::chrono::milliseconds doubled(std::chrono::milliseconds backoff, std::chrono::milliseconds cap) {
  return std::min(backoff * 2, cap);
}

// A bounded pool of connections to one server, for one store's prepared statements.
// Thread-safe.
class ConnectionPool {
 public:
  ConnectionPool(PostgresOptions options, std::function<void(pqxx::connection&)> prepare)
      : options_(std::move(options)),
        env_(options_.env != nullptr ? *options_.env : real_env()),
        target_(store_detail::describe_target(options_.connection)),
        prepare_(std::move(prepare)),
        lookup_(options_.retry.connect_timeout) {}

  // Waits for a free connection, making one (with retries) when the pool has room.
  // Throws StoreError kUnavailable when no connection can be made.
  std::unique_ptr<pqxx::connection> acquire() {
    {
      std::unique_lock lock(mutex_);
      while (true) {
        available_.wait(lock, [&] { return !idle_.empty() || open_ < options_.pool_size; });
        if (idle_.empty()) break;
        auto c = std::move(idle_.back());
        idle_.pop_back();
        if (still_usable(*c)) return c;
        --open_;  // closed by the server while idle (a restart): drop it, look again
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

  const PostgresOptions& options() const { return options_; }
  const std::string& target() const { return target_; }
  Env& env() const { return env_; }

 private:
  // An idle connection has nothing to read: if its socket is readable or hung up, the
  // server has closed it (with a FATAL message, or by dying). Checking costs one poll()
  // and keeps a restart from turning the next autocommit write into an in-doubt one.
  static bool still_usable(pqxx::connection& c) {
    if (!c.is_open()) return false;
    pollfd p{c.sock(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 0;
  }

  std::unique_ptr<pqxx::connection> connect() {
    const RetryPolicy& policy = options_.retry;
    auto backoff = policy.connect_backoff;
    std::string last;
    for (int attempt = 1; attempt <= policy.connect_attempts; ++attempt) {
      try {
        // Bounded from the name's lookup on (postgres_connect.h); a failed lookup is a
        // failed attempt, as when libpq looks the name up itself.
        const auto connection =
            store_detail::attempt_connection(options_.connection, policy.connect_timeout, lookup_, last);
        if (connection) {
          auto c = std::make_unique<pqxx::connection>(*connection);
          prepare_(*c);
          return c;
        }
      } catch (const pqxx::broken_connection& e) {
        last = e.what();
      } catch (const pqxx::sql_error& e) {
        if (store_detail::classify(e, Work::kRead) != Verdict::kReconnect) throw;
        last = e.what();
      }
      if (attempt < policy.connect_attempts) {
        env_.sleep_for(backoff);
        backoff = doubled(backoff, policy.max_backoff);
      }
    }
    throw StoreError(StoreError::Code::kUnavailable, "PostgreSQL unavailable after " +
                                                         std::to_string(policy.connect_attempts) +
                                                         " connection attempts (" + target_ + "): " + one_line(last));
  }

  const PostgresOptions options_;
  Env& env_;
  const std::string target_;
  const std::function<void(pqxx::connection&)> prepare_;
  store_detail::BoundedLookup lookup_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  std::size_t open_ = 0;  // idle + in use + being connected; at most pool_size
};

// A connection taken from the pool for one attempt; goes back on every path, healthy
// unless marked otherwise.
class Lease {
 public:
  explicit Lease(ConnectionPool& pool) : pool_(pool), connection_(pool.acquire()) {}
  ~Lease() { pool_.release(std::move(connection_), healthy_); }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  pqxx::connection& operator*() { return *connection_; }
  void discard() { healthy_ = false; }

 private:
  ConnectionPool& pool_;
  std::unique_ptr<pqxx::connection> connection_;
  bool healthy_ = true;
};

// Says once that the server has become unreachable, however many calls fail while it is,
// and once that it answers again: an outage is one event in the log, not a line per call.
// Thread-safe.
class OutageLog {
 public:
  OutageLog(const std::string& store, const std::string& target, std::function<void(const std::string&)> sink,
            Env& env)
      : prefix_("store \"" + store + "\": PostgreSQL (" + target + ")"), sink_(std::move(sink)), env_(env) {}

  // A call failed with kUnavailable (`why`, its message).
  void unreachable(const std::string& why) {
    {
      std::lock_guard lock(mutex_);
      ++failed_calls_;
      if (down_.load(std::memory_order_relaxed)) return;
      down_.store(true, std::memory_order_relaxed);
      since_ = env_.steady_now();
      failed_calls_ = 1;
    }
    write(prefix_ + " is unavailable; calls fail with kUnavailable until it answers again: " + why);
  }

  // A call succeeded: costs one atomic load unless an outage is ending.
  void reachable() {
    if (!down_.load(std::memory_order_relaxed)) return;
    std::chrono::steady_clock::duration lasted;
    long failed;
    {
      std::lock_guard lock(mutex_);
      if (!down_.load(std::memory_order_relaxed)) return;  // another call said it first
      down_.store(false, std::memory_order_relaxed);
      lasted = env_.steady_now() - since_;
      failed = failed_calls_;
    }
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.1f", std::chrono::duration<double>(lasted).count());
    write(prefix_ + " answers again, after " + seconds + " s unavailable (" + std::to_string(failed) +
          (failed == 1 ? " call" : " calls") + " failed)");
  }

 private:
  void write(const std::string& line) const {
    if (sink_) {
      sink_(line);
    } else {
      std::fprintf(stderr, "snap: %s\n", line.c_str());  // one write: lines from threads do not interleave
    }
  }

  const std::string prefix_;
  const std::function<void(const std::string&)> sink_;
  Env& env_;
  std::atomic<bool> down_{false};  // written under mutex_; read without it on the success path
  std::mutex mutex_;
  std::chrono::steady_clock::time_point since_;  // guarded by mutex_, as below
  long failed_calls_ = 0;
};

class PostgresBackend final : public StoreBackend {
 public:
  PostgresBackend(const PostgresOptions& postgres, const StoreOptions& options)
      : name_(options.name),
        specs_(options.indexes),
        table_(safe_identifier(name_)),
        pool_(postgres, [this](pqxx::connection& c) { prepare(c); }),
        outage_(name_, pool_.target(), postgres.log, pool_.env()) {
    for (const IndexSpec& spec : specs_) index_tables_.push_back(index_table_name(table_, spec.name));
    create_schema();
  }

  const std::string& name() const override { return name_; }
  std::string_view system() const override { return "postgresql"; }
  bool has_index(std::string_view index) const override { return index_of(index) >= 0; }

  std::optional<json> get(std::string_view key) override {
    return run(Work::kRead, [&](pqxx::connection& c) -> std::optional<json> {
      pqxx::nontransaction tx(c);
      const pqxx::result r = tx.exec_prepared("get", std::string(key));
      if (r.empty()) return std::nullopt;
      return parse_json(r[0][0]);
    });
  }

  bool has(std::string_view key) override {
    return run(Work::kRead, [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      return !tx.exec_prepared("has", std::string(key)).empty();
    });
  }

  void set(std::string_view key, const json& value) override {
    // Checked, serialized and indexed before any round trip: a refusal writes nothing.
    const auto facts = check_value(name_, key, value);
    const std::string text = store_detail::to_postgres_text(value, facts);
    // Indexers see the value as it will be read back, as on a rebuild and in memory.
    Entries entries;
    if (!specs_.empty()) {
      if (facts.normalizes) {
        json normalized = value;
        store_detail::normalize(normalized);
        entries = entries_for(key, normalized);
      } else {
        entries = entries_for(key, value);
      }
    }
    if (specs_.empty()) {
      // One statement is atomic on its own: no transaction round trips.
      run(Work::kAutocommitWrite, [&](pqxx::connection& c) {
        pqxx::nontransaction tx(c);
        tx.exec_prepared("upsert", std::string(key), text, writer_);
        return 0;
      });
      return;
    }
    run(Work::kTransaction, [&](pqxx::connection& c) {
      pqxx::work tx(c);
      tx.exec_prepared("upsert", std::string(key), text, writer_);
      reindex(tx, key, entries);
      tx.commit();
      return 0;
    });
  }

  bool del(std::string_view key) override {
    // One statement, indexes or not: the table's delete trigger removes the item's entries
    // from every index table of the store, in the same statement, including those of
    // indexes this build does not have (create_schema).
    return run(Work::kAutocommitWrite, [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      return !tx.exec_prepared("delete", std::string(key)).empty();
    });
  }

  std::optional<json> modify(std::string_view key,
                             const std::function<std::optional<json>(const std::optional<json>&)>& fn) override {
    return run(Work::kTransaction, [&](pqxx::connection& c) -> std::optional<json> {
      pqxx::work tx(c);
      // The row lock makes concurrent modifies of one key take turns; each sees the
      // value the previous one committed (READ COMMITTED re-reads a locked row).
      const pqxx::result r = tx.exec_prepared("get_for_update", std::string(key));
      std::optional<json> current;
      if (!r.empty()) current = parse_json(r[0][0]);
      std::optional<json> result = fn(current);
      if (!result) {  // delete; the trigger removes the entries
        if (current) tx.exec_prepared("delete", std::string(key));
        tx.commit();
        return result;
      }
      json& next = *result;
      const auto facts = check_value(name_, key, next);
      if (facts.normalizes) store_detail::normalize(next);  // as get will return it
      if (current && *current == next) {  // unchanged: nothing to write
        tx.commit();
        return result;
      }
      const auto entries = entries_for(key, next);
      // For an absent key there is no row to lock, so a plain INSERT: a concurrent modify
      // that also saw it absent fails with unique_violation and is retried, instead of
      // silently overwriting.
      tx.exec_prepared(current ? "update" : "insert", std::string(key), store_detail::to_postgres_text(next, facts),
                       writer_);
      if (!specs_.empty()) reindex(tx, key, entries);
      tx.commit();
      return result;
    });
  }

  std::vector<std::string> keys(const KeyPage& page) override {
    const auto limit = static_cast<long long>(
        std::min<std::size_t>(page.limit, static_cast<std::size_t>(std::numeric_limits<long long>::max())));
    return run(Work::kRead, [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      std::vector<std::string> out;
      for (const auto& row : tx.exec_prepared("keys", page.after, limit)) out.emplace_back(view_of(row[0]));
      return out;
    });
  }

  std::vector<IndexMatch> index_get(std::string_view index, std::string_view index_key) override {
    const int i = index_of(index);
    return run(Work::kRead, [&](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      std::vector<IndexMatch> out;
      for (const auto& row : tx.exec_prepared("index_get_" + std::to_string(i), std::string(index_key))) {
        out.push_back(IndexMatch{std::string(view_of(row[0])), parse_json(row[1])});
      }
      return out;
    });
  }

 private:
  using Entries = std::vector<std::vector<CheckedEntry>>;  // one list per spec, in order

  int index_of(std::string_view index) const {
    for (std::size_t i = 0; i < specs_.size(); ++i) {
      if (specs_[i].name == index) return static_cast<int>(i);
    }
    return -1;
  }

  Entries entries_for(std::string_view key, const json& value) const {
    Entries out;
    out.reserve(specs_.size());
    for (const IndexSpec& spec : specs_) out.push_back(index_entries(name_, spec, key, value));
    return out;
  }

  // Statement definitions for a new connection; libpqxx prepares each on first use.
  void prepare(pqxx::connection& c) {
    const std::string t = quoted_identifier(table_);
    c.prepare("get", "SELECT value::text FROM " + t + " WHERE key = $1");
    c.prepare("has", "SELECT 1 FROM " + t + " WHERE key = $1");
    c.prepare("get_for_update", "SELECT value::text FROM " + t + " WHERE key = $1 FOR UPDATE");
    // Every write says who wrote the row ($3, writer_): a parameter, not a statement more.
    c.prepare("upsert", "INSERT INTO " + t +
                            " (key, value, writer) VALUES ($1, $2::jsonb, $3) ON CONFLICT (key) DO UPDATE SET "
                            "value = EXCLUDED.value, writer = EXCLUDED.writer");
    c.prepare("insert", "INSERT INTO " + t + " (key, value, writer) VALUES ($1, $2::jsonb, $3)");
    c.prepare("update", "UPDATE " + t + " SET value = $2::jsonb, writer = $3 WHERE key = $1");
    c.prepare("delete", "DELETE FROM " + t + " WHERE key = $1 RETURNING 1");
    c.prepare("keys", "SELECT key FROM " + t + " WHERE key > $1 ORDER BY key LIMIT $2");
    c.prepare("scan", "SELECT key, value::text FROM " + t + " WHERE key > $1 ORDER BY key LIMIT 1000");
    for (std::size_t i = 0; i < index_tables_.size(); ++i) {
      const std::string ix = quoted_identifier(index_tables_[i]);
      const std::string n = std::to_string(i);
      c.prepare("index_get_" + n, "SELECT key, inline::text FROM " + ix + " WHERE index_key = $1 ORDER BY key, seq");
      c.prepare("index_delete_" + n, "DELETE FROM " + ix + " WHERE key = $1");
      c.prepare("index_insert_" + n,
                "INSERT INTO " + ix + " (index_key, key, seq, inline) VALUES ($1, $2, $3, $4::jsonb)");
    }
  }

  void insert_entries(pqxx::transaction_base& tx, std::size_t i, std::string_view key,
                      const std::vector<CheckedEntry>& entries) {
    const std::string statement = "index_insert_" + std::to_string(i);
    int seq = 0;  // keeps the indexer's order among one item's entries
    for (const CheckedEntry& e : entries) {
      tx.exec_prepared(statement, e.index_key, std::string(key), seq++,
                       store_detail::to_postgres_text(e.inline_value, e.facts));
    }
  }

  // Replaces the item's entries in every index.
  void reindex(pqxx::transaction_base& tx, std::string_view key, const Entries& entries) {
    for (std::size_t i = 0; i < specs_.size(); ++i) {
      tx.exec_prepared("index_delete_" + std::to_string(i), std::string(key));
      insert_entries(tx, i, key, entries[i]);
    }
  }

  // Creates what is absent, rebuilds indexes whose version changed and repairs rows that
  // builds without some of this build's indexes wrote (docs/store.md, "Builds with
  // different indexes"). Three transactions, each under an advisory lock, so that
  // personas and builds starting together take turns instead of racing (CREATE ... IF NOT
  // EXISTS races with itself):
  // 1. what all stores share, under its own lock;
  // 2. the store table's columns and indexes, under the store's lock -- committed at
  //    once, because the ALTER TABLE an older table needs shuts out its readers until
  //    commit;
  // 3. under the store's lock again: the delete trigger installed if absent, this build's
  //    index set registered, index tables created, rebuilt and repaired. A rebuild or
  //    repair that fails (an indexer that throws) leaves everything as it was.
  void create_schema() {
    // Not run(): an open that fails is reported to the opener by its exception, and a
    // component that opens on first use says once that it cannot (key_value_store.cc).
    retrying(Work::kTransaction, [&](pqxx::connection& c) {
      pqxx::work tx(c);
      tx.exec("SELECT pg_advisory_xact_lock(hashtext('snap-store:snap_index_versions'))");
      tx.exec(
          "CREATE TABLE IF NOT EXISTS snap_index_versions (store text NOT NULL, index_name text NOT NULL, "
          "version integer NOT NULL, index_table text, PRIMARY KEY (store, index_name))");
      // index_table: what the delete trigger reads; NULL in rows from before it, which
      // the next open of their store fills in.
      if (!has_column(tx, "snap_index_versions", "index_table")) {
        tx.exec("ALTER TABLE snap_index_versions ADD COLUMN index_table text");
      }
      tx.exec(
          "CREATE TABLE IF NOT EXISTS snap_store_writers (store text NOT NULL, indexes text[] NOT NULL, "
          "id integer NOT NULL, PRIMARY KEY (store, indexes), UNIQUE (store, id))");
      if (tx.exec("SELECT to_regprocedure('snap_store_delete_entries()')")[0][0].is_null()) {
        tx.exec(kDeleteEntriesFunction);
      }
      tx.commit();
      return 0;
    });
    retrying(Work::kTransaction, [&](pqxx::connection& c) {
      pqxx::work tx(c);
      lock_store(tx);
      const std::string t = quoted_identifier(table_);
      tx.exec("CREATE TABLE IF NOT EXISTS " + t +
              " (key text COLLATE \"C\" PRIMARY KEY, value jsonb NOT NULL, writer integer NOT NULL DEFAULT 0)");
      if (!has_column(tx, table_, "writer")) {
        // A table from before writer tags: a constant default is metadata only (no rewrite),
        // and every row reads as 0, "unknown", so the first open with indexes repairs it.
        tx.exec("ALTER TABLE " + t + " ADD COLUMN writer integer NOT NULL DEFAULT 0");
      }
      const std::string by_writer = writer_index_name(table_);
      if (!exists(tx, by_writer)) tx.exec("CREATE INDEX " + quoted_identifier(by_writer) + " ON " + t + " (writer)");
      for (const auto& row : tx.exec_params(
               "SELECT index_name FROM snap_index_versions WHERE store = $1 AND index_table IS NULL", table_)) {
        const std::string index(view_of(row[0]));
        tx.exec_params("UPDATE snap_index_versions SET index_table = $3 WHERE store = $1 AND index_name = $2", table_,
                       index, index_table_name(table_, index));
      }
      tx.commit();
      return 0;
    });
    retrying(Work::kTransaction, [&](pqxx::connection& c) {
      pqxx::work tx(c);
      lock_store(tx);
      const std::string t = quoted_identifier(table_);
      const bool has_trigger =
          !tx.exec_params("SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = 'snap_delete_entries'",
                          t)
               .empty();
      // An index table that did not exist is filled whatever the stored version says: the
      // version row may have outlived its table (dropped by hand, or renamed by a newer
      // naming).
      std::vector<bool> rebuilt(specs_.size());
      std::vector<bool> existed(specs_.size());
      for (std::size_t i = 0; i < specs_.size(); ++i) {
        existed[i] = exists(tx, index_tables_[i]);
        const pqxx::result v = tx.exec_params(
            "SELECT version FROM snap_index_versions WHERE store = $1 AND index_name = $2", table_, specs_[i].name);
        rebuilt[i] = !(existed[i] && !v.empty() && v[0][0].as<int>() == specs_[i].version);
      }
      if (!has_trigger || std::find(rebuilt.begin(), rebuilt.end(), true) != rebuilt.end()) {
        // Writes wait while the trigger is installed or an index rebuilt (reads do not): a
        // write that landed between a rebuild's DELETE and its scan would keep its old
        // entries too. Taken before any index table is touched, so that no write holds
        // what this waits for.
        tx.exec("LOCK TABLE " + t + " IN EXCLUSIVE MODE");
      }
      if (!has_trigger) {
        tx.exec("CREATE TRIGGER snap_delete_entries AFTER DELETE ON " + t +
                " FOR EACH ROW EXECUTE FUNCTION snap_store_delete_entries()");
        // Deletes made before the trigger left the entries of indexes their build did not
        // have: removed once, now.
        for (const auto& row : tx.exec_params(
                 "SELECT index_table FROM snap_index_versions WHERE store = $1 AND index_table IS NOT NULL", table_)) {
          const std::string ix(view_of(row[0]));
          if (!exists(tx, ix)) continue;
          tx.exec("DELETE FROM " + quoted_identifier(ix) + " AS ix WHERE NOT EXISTS (SELECT 1 FROM " + t +
                  " AS s WHERE s.key = ix.key)");
        }
      }
      writer_ = register_writer(tx);
      for (std::size_t i = 0; i < specs_.size(); ++i) {
        if (!rebuilt[i]) continue;
        const std::string ix = quoted_identifier(index_tables_[i]);
        if (!existed[i]) {
          tx.exec("CREATE TABLE IF NOT EXISTS " + ix +
                  " (index_key text COLLATE \"C\" NOT NULL, key text COLLATE \"C\" NOT NULL, seq integer NOT NULL, "
                  "inline jsonb NOT NULL, PRIMARY KEY (index_key, key, seq))");
          tx.exec("CREATE INDEX IF NOT EXISTS " + quoted_identifier(safe_identifier(index_tables_[i] + "_by_key")) +
                  " ON " + ix + " (key)");
        }
        rebuild_index(tx, i);
        tx.exec_params(
            "INSERT INTO snap_index_versions (store, index_name, version, index_table) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (store, index_name) DO UPDATE SET version = EXCLUDED.version, index_table = "
            "EXCLUDED.index_table",
            table_, specs_[i].name, specs_[i].version, index_tables_[i]);
      }
      repair(tx, rebuilt);
      tx.commit();
      return 0;
    });
  }

  void lock_store(pqxx::work& tx) {
    tx.exec("SELECT pg_advisory_xact_lock(hashtext(" + tx.quote("snap-store:" + table_) + "))");
  }

  static bool exists(pqxx::work& tx, const std::string& relation) {
    return !tx.exec_params("SELECT to_regclass($1)", quoted_identifier(relation))[0][0].is_null();
  }

  static bool has_column(pqxx::work& tx, const std::string& table, const std::string& column) {
    return !tx.exec_params(
                  "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped",
                  quoted_identifier(table), column)
                .empty();
  }

  // This build's index set as SQL: the sorted array of NAME@VERSION (unambiguous: a
  // version has no '@'); only the indexes `pick` says, when given.
  std::string index_set(pqxx::work& tx, const std::vector<bool>* pick = nullptr) const {
    std::vector<std::string> names;
    for (std::size_t i = 0; i < specs_.size(); ++i) {
      if (pick == nullptr || (*pick)[i]) names.push_back(specs_[i].name + "@" + std::to_string(specs_[i].version));
    }
    std::sort(names.begin(), names.end());
    std::string out = "ARRAY[";
    for (std::size_t i = 0; i < names.size(); ++i) out += (i == 0 ? "" : ", ") + tx.quote(names[i]);
    return out + "]::text[]";
  }

  // The id rows written by this build carry: one per store and index set, given at its
  // first open and the same for every process of the build. Under the store's lock, so
  // max + 1 does not race.
  int register_writer(pqxx::work& tx) {
    const std::string mine = index_set(tx);
    tx.exec_params("INSERT INTO snap_store_writers (store, indexes, id) SELECT $1::text, " + mine +
                       ", coalesce(max(id), 0) + 1 FROM snap_store_writers WHERE store = $1::text "
                       "ON CONFLICT (store, indexes) DO NOTHING",
                   table_);
    return tx.exec_params("SELECT id FROM snap_store_writers WHERE store = $1 AND indexes = " + mine, table_)[0][0]
        .as<int>();
  }

  // Gives this build's entries and tag to every row whose writer did not keep all of this
  // build's indexes at these versions: writer 0 (unknown: written before tags, or by a
  // build from before them) or a registered index set that lacks one. `rebuilt[i]`: index
  // i was just filled from every row and needs nothing more. Rows are locked, so a write
  // of the same row by another build waits for this one; one written after it carries
  // its writer's tag and is repaired by the next open.
  void repair(pqxx::work& tx, const std::vector<bool>& rebuilt) {
    if (specs_.empty()) return;
    // Rows of a writer that lacked only rebuilt indexes are right already and need only
    // this build's tag; the others need entries in the indexes that were not rebuilt.
    std::vector<bool> kept(rebuilt.size());
    for (std::size_t i = 0; i < rebuilt.size(); ++i) kept[i] = !rebuilt[i];
    const bool any_kept = std::find(kept.begin(), kept.end(), true) != kept.end();
    std::string stale = any_kept ? "{0" : "{";
    std::string right = any_kept ? "{" : "{0";
    for (const auto& row : tx.exec_params("SELECT id, indexes @> " + index_set(tx, &kept) +
                                              " FROM snap_store_writers WHERE store = $1 AND NOT indexes @> " +
                                              index_set(tx),
                                          table_)) {
      std::string& list = row[1].as<bool>() ? right : stale;
      list += (list.size() == 1 ? "" : ",") + std::string(view_of(row[0]));
    }
    stale += "}";
    right += "}";
    const std::string t = quoted_identifier(table_);
    // Only after a rebuild, so under its lock: no write waits to be let through.
    if (right != "{}") {
      tx.exec_params("UPDATE " + t + " SET writer = $2 WHERE writer = ANY($1::integer[])", right, writer_);
    }
    if (stale == "{}") return;
    const auto found =
        tx.exec_params("SELECT count(*) FROM " + t + " WHERE writer = ANY($1::integer[])", stale)[0][0].as<long long>();
    // A page is chosen, locked, re-tagged and returned by one statement; re-tagged rows
    // leave the set, so the next page finds the next rows. Other builds writing meanwhile
    // can add rows to the set: stopping after twice what there was keeps the open finite.
    constexpr std::size_t kPage = 1000;
    for (long long budget = 2 * found; budget > 0;) {
      const pqxx::result rows = tx.exec_params(
          "WITH page AS (SELECT key FROM " + t + " WHERE writer = ANY($1::integer[]) LIMIT " + std::to_string(kPage) +
              " FOR UPDATE) UPDATE " + t + " AS s SET writer = $2 FROM page WHERE s.key = page.key "
              "RETURNING s.key, s.value::text",
          stale, writer_);
      for (const auto& row : rows) {
        const std::string key(view_of(row[0]));
        const json value = parse_json(row[1]);
        for (std::size_t i = 0; i < specs_.size(); ++i) {
          if (rebuilt[i]) continue;
          const auto entries = index_entries(name_, specs_[i], key, value);
          tx.exec_prepared("index_delete_" + std::to_string(i), key);
          insert_entries(tx, i, key, entries);
        }
      }
      budget -= static_cast<long long>(rows.size());
      if (rows.size() < kPage) break;
    }
  }

  // Every item, a page at a time (keyset paging, so memory stays bounded).
  void rebuild_index(pqxx::work& tx, std::size_t i) {
    tx.exec("DELETE FROM " + quoted_identifier(index_tables_[i]));
    std::string after;
    while (true) {
      const pqxx::result rows = tx.exec_prepared("scan", after);
      for (const auto& row : rows) {
        after = std::string(view_of(row[0]));
        insert_entries(tx, i, after, index_entries(name_, specs_[i], after, parse_json(row[1])));
      }
      if (rows.size() < 1000) return;
    }
  }

  // Runs `f` as retrying() does, telling outage_ whether the server could be reached.
  template <typename F>
  auto run(Work work, F&& f) -> decltype(f(std::declval<pqxx::connection&>())) {
    try {
      auto result = retrying(work, std::forward<F>(f));
      outage_.reachable();
      return result;
    } catch (const StoreError& e) {
      if (e.code() == StoreError::Code::kUnavailable) outage_.unreachable(e.what());
      throw;
    }
  }

  // Runs `f` on a pooled connection, as store_detail::classify decides: a lost
  // connection is retried on a new one, a conflict after a backoff, and a write that may
  // have committed is never run again.
  template <typename F>
  auto retrying(Work work, F&& f) -> decltype(f(std::declval<pqxx::connection&>())) {
    const RetryPolicy& policy = pool_.options().retry;
    int lost = 0, conflicts = 0;
    auto conflict_backoff = policy.conflict_backoff;
    auto lost_backoff = policy.connect_backoff;
    while (true) {
      Verdict verdict;
      std::string what;
      {
        Lease connection(pool_);
        try {
          return f(*connection);
        } catch (const std::exception& e) {
          verdict = store_detail::classify(e, work);
          if (verdict == Verdict::kNotOurs) throw;  // the transaction rolled back; the connection is fine
          if (verdict == Verdict::kReconnect || verdict == Verdict::kInDoubt) connection.discard();
          what = one_line(e.what());
        }
      }
      switch (verdict) {
        case Verdict::kInDoubt:
          throw StoreError(StoreError::Code::kInDoubt,
                           "store \"" + name_ + "\": the connection to PostgreSQL (" + pool_.target() +
                               ") broke while a write was committing; it may or may not have happened: " + what);
        case Verdict::kBackend:
          throw StoreError(StoreError::Code::kBackend, "store \"" + name_ + "\": " + what);
        case Verdict::kReconnect:
          if (++lost >= policy.connect_attempts) {
            throw StoreError(StoreError::Code::kUnavailable, "store \"" + name_ + "\": PostgreSQL (" + pool_.target() +
                                                                 ") connection lost " + std::to_string(lost) +
                                                                 " times in a row: " + what);
          }
          pool_.env().sleep_for(lost_backoff);
          lost_backoff = doubled(lost_backoff, policy.max_backoff);
          break;
        case Verdict::kConflict:
          if (++conflicts >= policy.conflict_attempts) {
            throw StoreError(StoreError::Code::kConflict, "store \"" + name_ + "\": still conflicting after " +
                                                              std::to_string(conflicts) + " attempts: " + what);
          }
          pool_.env().sleep_for(conflict_backoff);
          conflict_backoff = doubled(conflict_backoff, policy.max_conflict_backoff);
          break;
        case Verdict::kNotOurs:
          break;  // rethrown above
      }
    }
  }

  std::string name_;
  std::vector<IndexSpec> specs_;
  std::string table_;
  std::vector<std::string> index_tables_;
  int writer_ = 0;  // this build's id in snap_store_writers for this store: set at open
  ConnectionPool pool_;
  OutageLog outage_;
};

}  // namespace

std::unique_ptr<JsonStore> open_postgres_store(const PostgresOptions& postgres, const StoreOptions& options) {
  check_options(options);
  if (postgres.pool_size == 0) {
    throw StoreError(StoreError::Code::kInvalidArgument, "store \"" + options.name + "\": pool_size 0");
  }
  if (postgres.retry.connect_timeout < std::chrono::seconds(1)) {
    // libpq would read 0 as "wait forever".
    throw StoreError(StoreError::Code::kInvalidArgument,
                     "store \"" + options.name + "\": retry.connect_timeout under 1 s");
  }
  return std::make_unique<JsonStore>(std::make_unique<PostgresBackend>(postgres, options), options.metrics);
}

}  // namespace snap
