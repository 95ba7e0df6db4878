// Store: a JSON key-value store with secondary indexes, with one behaviour contract and
// two backends -- in memory (dev mode, tests) and PostgreSQL -- held to it by one test
// suite (tests/store/store_conformance_test.cc). docs/store.md is the contract.
//
//   snap::StoreOptions options{"orders", {{"by-customer", 1, [](std::string_view key, const json& order) {
//     return std::vector<snap::IndexEntry>{{order.at("customer").as_string().c_str(), order.at("total")}};
//   }}}};
//   auto orders = snap::open_memory_store(options);          // or open_postgres_store(pg, options)
//   snap::Store<Order> typed(*orders);
//   typed.set("o-1", Order{...});
//   for (auto& m : orders->index("by-customer").get("alice")) ...   // {key, inline value}
//
// Contract, both backends alike:
// - Keys are non-empty byte strings ordered byte-wise (memcmp), as std::string compares.
// - get of an absent key is an empty optional; del of an absent key returns false.
// - modify(key, fn) is an atomic read-modify-write: fn sees the current value (or none)
//   and its result is stored, with no other write to that key in between. fn may run more
//   than once (PostgreSQL retries conflicts), so it must be free of side effects.
// - Index entries are kept in step with every write, in the same transaction. index.get
//   returns matches ordered by key, then by the order the indexer emitted them.
// - An index has a version; opening a store whose index version differs from the stored
//   one rebuilds that index from the data, so a changed indexer never leaves it stale.
//
// Thread safety: a store may be used from many threads at once.
#pragma once

#include <boost/core/demangle.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

namespace snap {

using json = boost::json::value;

class StoreError : public std::runtime_error {
 public:
  enum class Code {
    kConversion,       // a value does not convert to/from Store<T>'s T (fix the data or the type)
    kInvalidArgument,  // an empty key or index key, an unknown index (fix the caller)
    kUnavailable,      // the database could not be reached within the retry policy (retry later)
    kConflict,         // modify kept conflicting past the retry policy (retry later)
    kInDoubt,          // the connection broke during commit: the write may or may not have happened
    kBackend,          // the database refused for another reason (a bug or a schema problem)
  };
  StoreError(Code code, const std::string& message) : std::runtime_error(message), code_(code) {}
  Code code() const { return code_; }

 private:
  Code code_;
};

struct IndexEntry {
  std::string index_key;  // must not be empty
  json inline_value;      // returned with each match, so readers need not fetch the item
};

struct IndexMatch {
  std::string key;
  json inline_value;
  friend bool operator==(const IndexMatch&, const IndexMatch&) = default;
};

using Indexer = std::function<std::vector<IndexEntry>(std::string_view key, const json& value)>;

struct IndexSpec {
  std::string name;
  // Bump whenever the indexer's output changes for existing data: the index is rebuilt.
  int version = 1;
  Indexer indexer;
};

struct StoreOptions {
  // The store's name: its table name in PostgreSQL (made safe: [a-z0-9_], at most 63
  // characters). Use a component's Id::safe_name().
  std::string name;
  std::vector<IndexSpec> indexes;
};

// One page of keys: those after `after` (exclusive), at most `limit`.
struct KeyPage {
  std::string after;
  std::size_t limit = 1000;
};

class StoreBackend;

class Index {
 public:
  // Throws StoreError kInvalidArgument for an empty index key.
  std::vector<IndexMatch> get(std::string_view index_key) const;
  const std::string& name() const { return name_; }

 private:
  friend class JsonStore;
  Index(StoreBackend& backend, std::string name) : backend_(&backend), name_(std::move(name)) {}
  StoreBackend* backend_;
  std::string name_;
};

// The untyped store. Made by open_memory_store / open_postgres_store.
class JsonStore {
 public:
  explicit JsonStore(std::unique_ptr<StoreBackend> backend);
  ~JsonStore();

  std::optional<json> get(std::string_view key) const;
  void set(std::string_view key, const json& value);
  bool has(std::string_view key) const;
  bool del(std::string_view key);
  // Atomic read-modify-write; returns the stored value. `fn` may run more than once.
  json modify(std::string_view key, const std::function<json(const std::optional<json>&)>& fn);
  // Keys in byte-wise order, one page at a time.
  std::vector<std::string> keys(const KeyPage& page = {}) const;
  // Every key in order, fetched a page at a time; stop early by returning false.
  void for_each_key(const std::function<bool(const std::string&)>& visit, std::size_t page_size = 1000) const;
  // Throws StoreError kInvalidArgument for an index the store was not opened with.
  Index index(std::string_view name) const;

  const std::string& name() const;

 private:
  std::unique_ptr<StoreBackend> backend_;
};

// The memory backend's "server": tables live here, so reopening a store (e.g. with a
// changed index version) sees the same data, as with PostgreSQL. Dev mode keeps one.
class MemoryDatabase;
std::shared_ptr<MemoryDatabase> make_memory_database();

// Opens (creating if absent) the store `options.name` in `database` (a fresh private one
// when null).
std::unique_ptr<JsonStore> open_memory_store(const StoreOptions& options,
                                             std::shared_ptr<MemoryDatabase> database = nullptr);

// How the PostgreSQL backend waits and retries. Defaults: a refused or lost connection
// is retried 5 times with backoff 50, 100, 200, 400 ms (about 0.75 s in all) before
// kUnavailable; a serialization failure, deadlock or racing insert in a write is retried
// up to 20 times with backoff from 1 ms doubling to at most 50 ms before kConflict.
// A commit whose outcome is unknown is never retried (kInDoubt).
struct RetryPolicy {
  int connect_attempts = 5;
  std::chrono::milliseconds connect_backoff{50};
  int conflict_attempts = 20;
  std::chrono::milliseconds conflict_backoff{1};
  std::chrono::milliseconds max_backoff{400};
};

struct PostgresOptions {
  // A libpq connection string, e.g. "host=/run/pg port=5432 dbname=app user=app password=...".
  std::string connection;
  // Connections kept open; concurrent calls beyond this wait for one.
  std::size_t pool_size = 8;
  RetryPolicy retry;
};

// Connects, creates the store's tables if absent (idempotent), and rebuilds indexes
// whose version changed. Throws StoreError (kUnavailable when the server cannot be reached).
std::unique_ptr<JsonStore> open_postgres_store(const PostgresOptions& postgres, const StoreOptions& options);

// A typed view of a JsonStore, for any T that Boost.JSON converts (value_from/value_to;
// e.g. a struct described with BOOST_DESCRIBE_STRUCT). Store<json> is the untyped API.
template <typename T>
class Store {
 public:
  // `store` must outlive this view.
  explicit Store(JsonStore& store) : store_(&store) {}

  // Throws StoreError kConversion, naming the key and T, when the stored value is not a T.
  std::optional<T> get(std::string_view key) const {
    auto v = store_->get(key);
    if (!v) return std::nullopt;
    return from_json(key, *v);
  }
  void set(std::string_view key, const T& value) { store_->set(key, to_json(key, value)); }
  bool has(std::string_view key) const { return store_->has(key); }
  bool del(std::string_view key) { return store_->del(key); }
  T modify(std::string_view key, const std::function<T(const std::optional<T>&)>& fn) {
    const json stored = store_->modify(key, [&](const std::optional<json>& current) {
      std::optional<T> typed;
      if (current) typed = from_json(key, *current);
      return to_json(key, fn(typed));
    });
    return from_json(key, stored);
  }
  std::vector<std::string> keys(const KeyPage& page = {}) const { return store_->keys(page); }
  Index index(std::string_view name) const { return store_->index(name); }
  JsonStore& untyped() const { return *store_; }

 private:
  static std::string type_name() { return boost::core::demangle(typeid(T).name()); }
  static T from_json(std::string_view key, const json& v) {
    if constexpr (std::is_same_v<T, json>) {
      return v;
    } else {
      try {
        return boost::json::value_to<T>(v);
      } catch (const std::exception& e) {
        throw StoreError(StoreError::Code::kConversion, "store value at key \"" + std::string(key) +
                                                            "\" is not a valid " + type_name() + ": " + e.what());
      }
    }
  }
  static json to_json(std::string_view key, const T& value) {
    try {
      return boost::json::value_from(value);
    } catch (const std::exception& e) {
      throw StoreError(StoreError::Code::kConversion,
                       "cannot store a " + type_name() + " at key \"" + std::string(key) + "\": " + e.what());
    }
  }
  JsonStore* store_;
};

}  // namespace snap
