// Store: a JSON key-value store with secondary indexes, with one behaviour contract and
// two backends -- in memory (dev mode, tests) and PostgreSQL -- held to it by one test
// suite (tests/store/store_conformance_test.cc). docs/store.md is the contract.
//
//   snap::StoreOptions options{"orders", {snap::typed_index<Order>("by-customer", 1, [](std::string_view, const Order& o) {
//     return std::vector<snap::IndexEntry>{{o.customer, o.total}};
//   })}};
//   auto orders = snap::open_memory_store(options);          // or open_postgres_store(pg, options)
//   snap::Store<Order> typed(*orders);
//   typed.set("o-1", Order{"alice", 12.5});
//   for (auto& m : orders->index("by-customer").get("alice")) keys.push_back(m.key);  // {key, inline value}
//
// Contract, both backends alike:
// - Keys and index keys are non-empty UTF-8 without NUL (what PostgreSQL text holds), at
//   most kMaxKeyBytes bytes long, ordered byte-wise (memcmp) as std::string compares --
//   for UTF-8, code point order.
// - get of an absent key is an empty optional; del of an absent key returns false.
// - Values come back equal (==) to what was stored, numbers exactly: a double stays a
//   double (2.0 is not returned as 2), bit for bit, except that -0.0 comes back as 0.0;
//   an unsigned integer that fits int64 comes back as int64. Object member order is not
//   kept (jsonb orders members its own way). NaN, infinity, NUL and invalid UTF-8 in
//   strings, and arrays and objects nested deeper than kJsonMaxDepth
//   (snap/json_limits.h), are refused (kInvalidArgument), by both backends.
// - modify(key, fn) is an atomic read-modify-write: fn sees the current value (or none)
//   and its result is stored, with no other write to that key in between. fn may run more
//   than once (PostgreSQL retries conflicts), so it must be free of side effects, and it
//   must not call the store (the memory backend runs it under the store's lock).
// - Index entries are kept in step with every write, in the same transaction. index.get
//   returns matches ordered by key, then by the order the indexer emitted them.
// - An index has a version; opening a store whose index version differs from the stored
//   one rebuilds that index from the data, so a changed indexer never leaves it stale.
//
// - PostgreSQL: builds with different index specs may write one store at once (a rolling
//   upgrade, a rollback). Each row records which index set its writer kept; an open
//   repairs the rows written by builds that lacked one of its indexes, and a delete
//   removes the item's entries from every index of the store, known to the deleting
//   build or not. Between opens, an index misses what builds without it wrote
//   (docs/store.md, "Builds with different indexes"). The memory backend, one process's
//   data, does not repair.
//
// Thread safety: a JsonStore, a Store<T> view and an Index handle may be used from many
// threads at once.
#pragma once

#include <boost/core/demangle.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <source_location>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "snap/error.h"
#include "snap/json_struct.h"

namespace snap {

class Env;
class MetricsRegistry;
namespace store_detail {
struct StoreMetrics;  // store.cc: a store's series
}

using json = boost::json::value;

// The longest key or index key, in bytes of UTF-8, that both backends accept; longer
// ones are refused with kInvalidArgument. Why this number: PostgreSQL cannot index a
// btree entry over 2,704 bytes, and an index table's entry holds an index key *and* a
// key, so two of these (plus the row's overhead) must fit in one.
inline constexpr std::size_t kMaxKeyBytes = 1024;

// The one error type of the store. The code says what the caller should do; the message
// names the store, the key and, for PostgreSQL, the server. Its canonical code
// (Error::code()) is what it crosses an API boundary as (docs/api.md): invalid_argument,
// unavailable (kUnavailable, kInDoubt), aborted (kConflict), internal (kConversion,
// kBackend); its detail is "store.REASON" ("store.in_doubt").
class StoreError : public Error {
 public:
  enum class Code {
    kConversion,       // a value does not convert to/from Store<T>'s T (fix the data or the type)
    kInvalidArgument,  // an empty, too long (kMaxKeyBytes), NUL-containing or non-UTF-8 key
                       // or index key, an unstorable value, an unknown index (fix the caller)
    kUnavailable,      // the database could not be reached within the retry policy (retry later)
    kConflict,         // modify kept conflicting past the retry policy (retry later)
    kAlreadyExists,    // insert of a key that is there (read it, or write with set or update)
    kInDoubt,          // the connection broke while a write committed: it may or may not have
                       // happened (check, then decide; never retried for you)
    kBackend,          // the database refused for another reason (a bug or a schema problem)
  };
  StoreError(Code code, const std::string& message);
  // What went wrong, in the store's terms (hides Error::code(), the canonical code).
  Code code() const { return code_; }

 private:
  Code code_;
};

struct IndexEntry {
  std::string index_key;  // must not be empty; UTF-8 without NUL
  json inline_value;      // returned with each match, so readers need not fetch the item
};

struct IndexMatch {
  std::string key;
  json inline_value;
  friend bool operator==(const IndexMatch&, const IndexMatch&) = default;
};

// Called on every write (with the value being written) and on rebuilds. Must be a pure
// function of its arguments, and safe to call from several threads at once.
using Indexer = std::function<std::vector<IndexEntry>(std::string_view key, const json& value)>;

struct IndexSpec {
  std::string name;  // unique within the store
  // Bump whenever the indexer's output changes for existing data: the index is rebuilt.
  int version = 1;
  Indexer indexer;
};

// An index over values of type T (snap/json_struct.h's codec, as Store<T>): `indexer`
// is called as indexer(key, const T&) and returns the entries. A value being written that
// is not a T fails that write with kConversion, naming the key, the index and the field.
//
//   auto by_customer = snap::typed_index<Order>("by-customer", 1, [](std::string_view, const Order& o) {
//     return std::vector<snap::IndexEntry>{{o.customer, o.total}};
//   });
template <typename T, typename F>
IndexSpec typed_index(std::string name, int version, F indexer);

struct StoreOptions {
  // The store's name: its table name in PostgreSQL (made safe: [a-z0-9_], at most 63
  // characters). Use a component's Id::safe_name().
  std::string name;
  std::vector<IndexSpec> indexes;
  // Where the store counts its operations (snap_store_operations_total by operation and
  // outcome, snap_store_operation_duration_seconds): the app's registry. Null: nowhere.
  // Must outlive the store.
  MetricsRegistry* metrics = nullptr;
};

// One page of keys: those after `after` (exclusive; empty: from the first key), at most
// `limit` (0 gives an empty page). Pass the last key of a page as the next `after`.
struct KeyPage {
  std::string after;
  std::size_t limit = 1000;
};

class StoreBackend;

// A handle on one index of a store; cheap to copy. It refers to its JsonStore, which must
// outlive it.
class Index {
 public:
  // Every entry under `index_key`, ordered by key, then in the order the indexer emitted
  // them for that key. Throws StoreError kInvalidArgument for an index key no item could
  // have: empty, longer than kMaxKeyBytes, with NUL or not UTF-8.
  std::vector<IndexMatch> get(std::string_view index_key, std::source_location where = std::source_location::current()) const;
  const std::string& name() const { return name_; }

 private:
  friend class JsonStore;
  Index(StoreBackend& backend, std::string name, store_detail::StoreMetrics* metrics)
      : backend_(&backend), name_(std::move(name)), metrics_(metrics) {}
  StoreBackend* backend_;
  std::string name_;
  store_detail::StoreMetrics* metrics_;  // the store's, or null
};

// The untyped store. Made by open_memory_store / open_postgres_store. Every call may
// throw StoreError: kInvalidArgument for a bad key or value (nothing is written);
// kConversion only through Store<T>; with PostgreSQL also kUnavailable, kConflict and
// kInDoubt (writes only) and kBackend. A call that throws wrote nothing, except kInDoubt.
class JsonStore {
 public:
  explicit JsonStore(std::unique_ptr<StoreBackend> backend, MetricsRegistry* metrics = nullptr);
  ~JsonStore();

  // Each operation takes its caller's place in the program (`where`): a recorded request
  // names it for each store read (snap/episode.h).
  std::optional<json> get(std::string_view key, std::source_location where = std::source_location::current()) const;
  void set(std::string_view key, const json& value, std::source_location where = std::source_location::current());
  bool has(std::string_view key, std::source_location where = std::source_location::current()) const;
  bool del(std::string_view key, std::source_location where = std::source_location::current());
  // Atomic read-modify-write; returns the stored value. `fn` may run more than once.
  json modify(std::string_view key, const std::function<json(const std::optional<json>&)>& fn, std::source_location where = std::source_location::current());
  // modify() where `fn` may also leave things as they are or delete: its result is
  // written; nullopt deletes the key (nothing happens if it is absent); a result equal to
  // the current value writes nothing. Returns the result.
  std::optional<json> update(std::string_view key,
                             const std::function<std::optional<json>(const std::optional<json>&)>& fn,
                             std::source_location where = std::source_location::current());
  // Writes `value` only if `key` is absent; otherwise throws StoreError kAlreadyExists
  // (canonical already_exists, HTTP 409) and writes nothing. Atomic, as modify.
  void insert(std::string_view key, const json& value, std::source_location where = std::source_location::current());
  // Keys in byte-wise order, one page at a time.
  std::vector<std::string> keys(const KeyPage& page = {}, std::source_location where = std::source_location::current()) const;
  // Every key in order, fetched a page at a time; stop early by returning false. Keys
  // written during the walk may or may not be visited; none is visited twice.
  // Throws kInvalidArgument for page_size 0.
  void for_each_key(const std::function<bool(const std::string&)>& visit, std::size_t page_size = 1000,
                    std::source_location where = std::source_location::current()) const;
  // Throws StoreError kInvalidArgument for an index the store was not opened with.
  Index index(std::string_view name) const;

  const std::string& name() const;

 private:
  std::unique_ptr<StoreBackend> backend_;
  std::unique_ptr<store_detail::StoreMetrics> metrics_;  // null: not counted
};

// The memory backend's "server": tables live here, so reopening a store (e.g. with a
// changed index version) sees the same data, as with PostgreSQL. Dev mode keeps one.
class MemoryDatabase;
std::shared_ptr<MemoryDatabase> make_memory_database();

// Opens (creating if absent) the store `options.name` in `database` (a fresh private one
// when null).
std::unique_ptr<JsonStore> open_memory_store(const StoreOptions& options,
                                             std::shared_ptr<MemoryDatabase> database = nullptr);

// How the PostgreSQL backend waits and retries. With the defaults:
// - A new connection is tried 5 times, waiting 50, 100, 200, 400 ms in between (0.75 s),
//   then kUnavailable naming the attempts and the server (host/socket, port, database,
//   user; never the password). Each attempt is bounded: the lookup of the server's name
//   by connect_timeout (2 s), and the connection (TCP, TLS, authentication) by it again.
//   So a server that refuses fails a call within 0.75 s, and one whose name does not
//   resolve in time or that never answers within 5 x 2 + 0.75 = 10.75 s.
// - A connection lost during a read, or before COMMIT, is retried on a new connection,
//   at most 5 times in a row with the same backoff, then kUnavailable. (Each new
//   connection gets its own 5 tries, so a server that went away fails within ~1 s; one
//   that keeps dropping connections within at most 5 x 5 tries.)
// - A serialization failure, deadlock or racing insert is retried up to 20 times, waiting
//   1 ms doubling to at most 50 ms, then kConflict.
// - A write whose commit outcome is unknown -- connection lost during COMMIT, or during a
//   single autocommit statement -- is never retried: kInDoubt.
struct RetryPolicy {
  int connect_attempts = 5;                      // >= 1
  std::chrono::milliseconds connect_backoff{50};
  // One attempt's bound, for the lookup of the host name and again for libpq's connect
  // (its connect_timeout, which replaces any in the connection string: whole seconds, and
  // less than 2 counts as 2). >= 1 s. Per address when a name has several.
  std::chrono::seconds connect_timeout{2};
  int conflict_attempts = 20;                    // >= 1
  std::chrono::milliseconds conflict_backoff{1};
  std::chrono::milliseconds max_backoff{400};    // cap of the connection backoff
  std::chrono::milliseconds max_conflict_backoff{50};
};

struct PostgresOptions {
  // A libpq connection string, e.g. "host=/run/pg port=5432 dbname=app user=app password=..."
  // or a postgresql:// URI.
  std::string connection;
  // Connections kept open per store (>= 1); concurrent calls beyond this wait for one.
  // Each costs a server process, so size it to the threads that use the store.
  std::size_t pool_size = 8;
  RetryPolicy retry;
  // Where the store says that the server has stopped answering (the first call that fails
  // kUnavailable) and that it answers again: one line each per outage, however many calls
  // fail in between. Called on the thread of the call that noticed, with no lock of the
  // store held. Empty (the default): the line goes to stderr.
  std::function<void(const std::string& line)> log;
  // The clock the retries wait on and outages are timed by (snap/env.h); must outlive
  // the store. Null (the default): the operating system's. A test gives a MemoryEnv to
  // run a whole retry schedule in virtual time.
  Env* env = nullptr;
};

// Connects, creates the store's tables if absent (idempotent, safe when several personas
// and builds start at once), rebuilds indexes whose version changed and repairs rows that
// builds without some of its indexes wrote; a rebuild or repair that fails changes
// nothing. Throws StoreError (kUnavailable when the server cannot be reached; an
// indexer's error when it refuses a row it rebuilds or repairs).
std::unique_ptr<JsonStore> open_postgres_store(const PostgresOptions& postgres, const StoreOptions& options);

// A typed view of a JsonStore, for any T that snap/json_struct.h converts -- the codec of
// the API's endpoints, so a struct reads the same from a request and from the store: a
// BOOST_DESCRIBE_STRUCT struct, std::optional, std::vector, std::map<std::string, T>,
// numbers, strings, bool, json. Fields the type does not have are ignored (an older
// program reads what a newer one wrote); a missing or mistyped field is a kConversion
// error naming its path ("$.total: expected number, got string"). Store<json> is the
// untyped API. Thread-safe as its JsonStore is.
template <typename T>
class Store {
 public:
  // `store` must outlive this view.
  explicit Store(JsonStore& store) : store_(&store) {}

  // Throws StoreError kConversion, naming the key and T, when the stored value is not a T.
  std::optional<T> get(std::string_view key, std::source_location where = std::source_location::current()) const {
    auto v = store_->get(key, where);
    if (!v) return std::nullopt;
    return from_json(key, *v);
  }
  void set(std::string_view key, const T& value, std::source_location where = std::source_location::current()) {
    store_->set(key, to_json(key, value), where);
  }
  bool has(std::string_view key, std::source_location where = std::source_location::current()) const { return store_->has(key, where); }
  bool del(std::string_view key, std::source_location where = std::source_location::current()) { return store_->del(key, where); }
  // Throws kConversion (and stores nothing) when the current value is not a T.
  T modify(std::string_view key, const std::function<T(const std::optional<T>&)>& fn, std::source_location where = std::source_location::current()) {
    const json stored = store_->modify(
        key,
        [&](const std::optional<json>& current) {
          std::optional<T> typed;
          if (current) typed = from_json(key, *current);
          return to_json(key, fn(typed));
        },
        where);
    return from_json(key, stored);
  }
  // As JsonStore::update, typed: return std::nullopt to delete, the value unchanged to
  // write nothing.
  std::optional<T> update(std::string_view key, const std::function<std::optional<T>(const std::optional<T>&)>& fn,
                          std::source_location where = std::source_location::current()) {
    const std::optional<json> stored = store_->update(
        key,
        [&](const std::optional<json>& current) -> std::optional<json> {
          std::optional<T> typed;
          if (current) typed = from_json(key, *current);
          std::optional<T> next = fn(typed);
          if (!next) return std::nullopt;
          return to_json(key, *next);
        },
        where);
    if (!stored) return std::nullopt;
    return from_json(key, *stored);
  }
  // As JsonStore::insert: kAlreadyExists when the key is there.
  void insert(std::string_view key, const T& value, std::source_location where = std::source_location::current()) {
    store_->insert(key, to_json(key, value), where);
  }
  std::vector<std::string> keys(const KeyPage& page = {}, std::source_location where = std::source_location::current()) const {
    return store_->keys(page, where);
  }
  void for_each_key(const std::function<bool(const std::string&)>& visit, std::size_t page_size = 1000,
                    std::source_location where = std::source_location::current()) const {
    store_->for_each_key(visit, page_size, where);
  }
  Index index(std::string_view name) const { return store_->index(name); }
  JsonStore& untyped() const { return *store_; }

 private:
  static std::string type_name() { return boost::core::demangle(typeid(T).name()); }
  static T from_json(std::string_view key, const json& v) {
    if constexpr (std::is_same_v<T, json>) {
      return v;
    } else {
      try {
        return snap::from_json<T>(v);
      } catch (const JsonError& e) {
        throw StoreError(StoreError::Code::kConversion, "store value at key \"" + std::string(key) +
                                                            "\" is not a valid " + type_name() + ": " + e.what());
      }
    }
  }
  static json to_json(std::string_view key, const T& value) {
    try {
      return snap::to_json(value);
    } catch (const JsonError& e) {
      throw StoreError(StoreError::Code::kConversion,
                       "cannot store a " + type_name() + " at key \"" + std::string(key) + "\": " + e.what());
    }
  }
  JsonStore* store_;
};

template <typename T, typename F>
IndexSpec typed_index(std::string name, int version, F indexer) {
  std::string label = name;
  return IndexSpec{std::move(name), version,
                   [indexer = std::move(indexer), label = std::move(label)](std::string_view key, const json& value) {
                     std::optional<T> typed;
                     try {
                       typed = snap::from_json<T>(value);
                     } catch (const JsonError& e) {
                       throw StoreError(StoreError::Code::kConversion,
                                        "index \"" + label + "\": the value at key \"" + std::string(key) +
                                            "\" is not a valid " + boost::core::demangle(typeid(T).name()) + ": " +
                                            e.what());
                     }
                     return std::vector<IndexEntry>(indexer(key, *typed));
                   }};
}

}  // namespace snap
