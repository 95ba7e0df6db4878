// The in-memory backend: std::map keeps keys in byte-wise order, as PostgreSQL's
// COLLATE "C" does, so both backends list and match in the same order. Values are
// normalized on the way in (json_codec.h) so that they come back as PostgreSQL would
// return them.
#include <map>
#include <mutex>
#include <shared_mutex>

#include "store_backend.h"

namespace snap {

namespace {

struct MemoryIndex {
  int version = 0;
  // index key -> item key -> inline values in the order the indexer emitted them
  std::map<std::string, std::map<std::string, std::vector<json>>, std::less<>> entries;
  // item key -> the index keys it has entries under: what a write or delete removes. Kept
  // instead of re-running the indexer on the old value, which a changed indexer (in
  // another store object on the same table) would get wrong, as PostgreSQL's
  // "DELETE ... WHERE key = $1" cannot.
  std::map<std::string, std::vector<std::string>, std::less<>> by_item;

  void add(const std::string& key, std::vector<CheckedEntry> list) {
    if (list.empty()) return;
    auto& index_keys = by_item[key];
    for (auto& e : list) {
      normalize(e.inline_value, e.facts);
      index_keys.push_back(e.index_key);
      entries[std::move(e.index_key)][key].push_back(std::move(e.inline_value));
    }
  }

  void remove(std::string_view key) {
    auto item = by_item.find(key);
    if (item == by_item.end()) return;
    for (const std::string& index_key : item->second) {
      auto entry = entries.find(index_key);
      if (entry == entries.end()) continue;  // an earlier duplicate index key removed it
      entry->second.erase(item->first);
      if (entry->second.empty()) entries.erase(entry);
    }
    by_item.erase(item);
  }

  static void normalize(json& v, const store_detail::ValueFacts& facts) {
    if (facts.normalizes) store_detail::normalize(v);
  }
};

// One store's data. Its mutex guards everything in it.
struct MemoryTable {
  std::shared_mutex mutex;
  std::map<std::string, json, std::less<>> items;
  std::map<std::string, MemoryIndex, std::less<>> indexes;
};

}  // namespace

class MemoryDatabase {
 public:
  MemoryTable& table(const std::string& name) {
    std::lock_guard lock(mutex_);
    auto& t = tables_[name];
    if (!t) t = std::make_unique<MemoryTable>();
    return *t;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<MemoryTable>> tables_;
};

std::shared_ptr<MemoryDatabase> make_memory_database() { return std::make_shared<MemoryDatabase>(); }

namespace {

class MemoryBackend final : public StoreBackend {
 public:
  MemoryBackend(const StoreOptions& options, std::shared_ptr<MemoryDatabase> db)
      : name_(options.name), specs_(options.indexes), db_(std::move(db)), table_(db_->table(safe_identifier(name_))) {
    std::unique_lock lock(table_.mutex);
    for (const IndexSpec& spec : specs_) {
      auto existing = table_.indexes.find(spec.name);
      if (existing != table_.indexes.end() && existing->second.version == spec.version) continue;
      // New or changed indexer: rebuild from the data. Built aside, so that an indexer
      // that throws leaves the stored index as it was (PostgreSQL rolls back alike).
      MemoryIndex rebuilt;
      rebuilt.version = spec.version;
      for (const auto& [key, value] : table_.items) rebuilt.add(key, index_entries(name_, spec, key, value));
      table_.indexes[spec.name] = std::move(rebuilt);
    }
  }

  const std::string& name() const override { return name_; }
  std::string_view system() const override { return "memory"; }
  bool has_index(std::string_view index) const override {
    for (const auto& s : specs_) {
      if (s.name == index) return true;
    }
    return false;
  }

  std::optional<json> get(std::string_view key) override {
    std::shared_lock lock(table_.mutex);
    auto it = table_.items.find(key);
    if (it == table_.items.end()) return std::nullopt;
    return it->second;
  }

  bool has(std::string_view key) override {
    std::shared_lock lock(table_.mutex);
    return table_.items.find(key) != table_.items.end();
  }

  void set(std::string_view key, const json& value) override {
    // Checked, normalized and indexed before the lock: a refusal writes nothing.
    json stored = value;
    MemoryIndex::normalize(stored, check_value(name_, key, value));
    auto entries = entries_for(key, stored);
    std::unique_lock lock(table_.mutex);
    write_locked(key, std::move(stored), std::move(entries));
  }

  bool del(std::string_view key) override {
    std::unique_lock lock(table_.mutex);
    auto it = table_.items.find(key);
    if (it == table_.items.end()) return false;
    for (const IndexSpec& spec : specs_) table_.indexes[spec.name].remove(key);
    table_.items.erase(it);
    return true;
  }

  // `fn` runs under the table's exclusive lock: that is what makes it atomic here, and
  // why it must not call the store.
  std::optional<json> modify(std::string_view key,
                             const std::function<std::optional<json>(const std::optional<json>&)>& fn) override {
    std::unique_lock lock(table_.mutex);
    std::optional<json> current;
    const auto it = table_.items.find(key);
    if (it != table_.items.end()) current = it->second;
    std::optional<json> next = fn(current);
    if (!next) {  // delete
      if (it != table_.items.end()) {
        for (const IndexSpec& spec : specs_) table_.indexes[spec.name].remove(key);
        table_.items.erase(it);
      }
      return next;
    }
    MemoryIndex::normalize(*next, check_value(name_, key, *next));
    if (current && *current == *next) return next;  // unchanged: nothing to write
    auto entries = entries_for(key, *next);
    write_locked(key, *next, std::move(entries));
    return next;
  }

  std::vector<std::string> keys(const KeyPage& page) override {
    std::shared_lock lock(table_.mutex);
    std::vector<std::string> out;
    auto it = page.after.empty() ? table_.items.begin() : table_.items.upper_bound(page.after);
    for (; it != table_.items.end() && out.size() < page.limit; ++it) out.push_back(it->first);
    return out;
  }

  std::vector<IndexMatch> index_get(std::string_view index, std::string_view index_key) override {
    std::shared_lock lock(table_.mutex);
    std::vector<IndexMatch> out;
    auto idx = table_.indexes.find(index);
    if (idx == table_.indexes.end()) return out;
    auto entry = idx->second.entries.find(index_key);
    if (entry == idx->second.entries.end()) return out;
    for (const auto& [key, values] : entry->second) {
      for (const json& v : values) out.push_back(IndexMatch{key, v});
    }
    return out;
  }

 private:
  using Entries = std::vector<std::vector<CheckedEntry>>;  // one list per spec, in order

  Entries entries_for(std::string_view key, const json& value) const {
    Entries out;
    out.reserve(specs_.size());
    for (const IndexSpec& spec : specs_) out.push_back(index_entries(name_, spec, key, value));
    return out;
  }

  void write_locked(std::string_view key, json value, Entries entries) {
    const std::string k(key);
    table_.items[k] = std::move(value);
    for (std::size_t i = 0; i < specs_.size(); ++i) {
      MemoryIndex& idx = table_.indexes[specs_[i].name];
      idx.remove(k);
      idx.add(k, std::move(entries[i]));
    }
  }

  std::string name_;
  std::vector<IndexSpec> specs_;
  std::shared_ptr<MemoryDatabase> db_;  // keeps table_ alive
  MemoryTable& table_;
};

}  // namespace

std::unique_ptr<JsonStore> open_memory_store(const StoreOptions& options, std::shared_ptr<MemoryDatabase> database) {
  check_options(options);
  if (!database) database = make_memory_database();
  return std::make_unique<JsonStore>(std::make_unique<MemoryBackend>(options, std::move(database)), options.metrics);
}

}  // namespace snap
