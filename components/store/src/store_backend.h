// The interface between JsonStore and its two backends, and the rules they share. Every
// check lives here, not in a backend, so that both refuse exactly the same input.
#pragma once

#include <functional>
#include <optional>
#include <source_location>
#include <string>
#include <string_view>
#include <vector>

#include "json_codec.h"
#include "snap/store.h"

namespace snap {

// JsonStore has checked keys (check_key) and index names (has_index) before calling; a
// backend checks values it writes with check_value and index entries with index_entries,
// because modify's values are only known inside the backend.
class StoreBackend {
 public:
  virtual ~StoreBackend() = default;
  virtual const std::string& name() const = 0;
  // What spans call the database (db.system.name): "postgresql", or "memory" for the
  // in-memory twin.
  virtual std::string_view system() const = 0;
  virtual bool has_index(std::string_view index) const = 0;
  virtual std::optional<json> get(std::string_view key) = 0;
  virtual bool has(std::string_view key) = 0;
  virtual void set(std::string_view key, const json& value) = 0;
  virtual bool del(std::string_view key) = 0;
  // Atomic read-modify-write: `fn`'s result is written; nullopt deletes the key (if it is
  // there); a result equal to the current value writes nothing. Returns the result.
  virtual std::optional<json> modify(std::string_view key,
                                     const std::function<std::optional<json>(const std::optional<json>&)>& fn) = 0;
  // page.limit > 0.
  virtual std::vector<std::string> keys(const KeyPage& page) = 0;
  virtual std::vector<IndexMatch> index_get(std::string_view index, std::string_view index_key) = 0;
};

// An index entry that passed the checks, with what the backends need to store it.
struct CheckedEntry {
  std::string index_key;
  json inline_value;
  store_detail::ValueFacts facts;
};

// The entries `spec` makes for one item, checked: an empty or unstorable index key or
// inline value is refused before anything is written, so a bad indexer never leaves a
// half-indexed write.
std::vector<CheckedEntry> index_entries(const std::string& store, const IndexSpec& spec, std::string_view key,
                                        const json& value);

// Throws kInvalidArgument for an empty store name, or an index without a name, without
// an indexer, or with the name of another: what each backend's open checks first.
void check_options(const StoreOptions& options);

// Throws kInvalidArgument for an empty key, one longer than kMaxKeyBytes, or one with NUL
// or invalid UTF-8.
void check_key(const std::string& store, std::string_view key);

// Throws kInvalidArgument for a value that cannot be stored (see json_codec.h).
store_detail::ValueFacts check_value(const std::string& store, std::string_view key, const json& value);

namespace store_detail {
// Where the store operation running on this thread was asked for in the program (the
// caller of JsonStore::get...), or null outside one.
const std::source_location* current_call_site();
}  // namespace store_detail

// [a-z0-9_], starting with a letter, at most 63 bytes; a digest suffix when anything had
// to change, so distinct names stay distinct.
std::string safe_identifier(std::string_view name);

// The table of index `index` of the store whose table is `table`: always with a digest of
// both names, so that no store or index name can make two tables collide (store "a__b"
// with index "c" and store "a" with index "b__c" would otherwise).
std::string index_table_name(std::string_view table, std::string_view index);

}  // namespace snap
