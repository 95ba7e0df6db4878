// The in-memory backend: std::map keeps keys in byte-wise order, as PostgreSQL's
// COLLATE "C" does, so both backends list and match in the same order.
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
};

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
      MemoryIndex& index = table_.indexes[spec.name];
      if (index.version == spec.version) continue;
      // New or changed indexer: rebuild from the data.
      MemoryIndex rebuilt;
      rebuilt.version = spec.version;
      for (const auto& [key, value] : table_.items) {
        for (auto& e : index_entries(name_, spec, key, value)) {
          rebuilt.entries[e.index_key][key].push_back(std::move(e.inline_value));
        }
      }
      index = std::move(rebuilt);
    }
  }

  const std::string& name() const override { return name_; }
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

  void set(std::string_view key, const json& value) override {
    auto entries = entries_for(key, value);  // may throw: nothing written yet
    std::unique_lock lock(table_.mutex);
    write_locked(key, value, std::move(entries));
  }

  bool del(std::string_view key) override {
    std::unique_lock lock(table_.mutex);
    auto it = table_.items.find(key);
    if (it == table_.items.end()) return false;
    unindex_locked(key);
    table_.items.erase(it);
    return true;
  }

  json modify(std::string_view key, const std::function<json(const std::optional<json>&)>& fn) override {
    std::unique_lock lock(table_.mutex);
    std::optional<json> current;
    if (auto it = table_.items.find(key); it != table_.items.end()) current = it->second;
    json next = fn(current);
    write_locked(key, next, entries_for(key, next));
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
  using Entries = std::vector<std::pair<std::string, std::vector<IndexEntry>>>;

  Entries entries_for(std::string_view key, const json& value) const {
    Entries out;
    for (const IndexSpec& spec : specs_) out.emplace_back(spec.name, index_entries(name_, spec, key, value));
    return out;
  }

  void write_locked(std::string_view key, const json& value, Entries entries) {
    unindex_locked(key);
    table_.items[std::string(key)] = value;
    for (auto& [index, list] : entries) {
      MemoryIndex& idx = table_.indexes[index];
      for (auto& e : list) idx.entries[e.index_key][std::string(key)].push_back(std::move(e.inline_value));
    }
  }

  // Removes the item's old entries, found by re-running the indexers on the old value.
  void unindex_locked(std::string_view key) {
    auto it = table_.items.find(key);
    if (it == table_.items.end()) return;
    for (const IndexSpec& spec : specs_) {
      MemoryIndex& idx = table_.indexes[spec.name];
      for (const auto& e : spec.indexer(key, it->second)) {
        auto entry = idx.entries.find(e.index_key);
        if (entry == idx.entries.end()) continue;
        entry->second.erase(std::string(key));
        if (entry->second.empty()) idx.entries.erase(entry);
      }
    }
  }

  std::string name_;
  std::vector<IndexSpec> specs_;
  std::shared_ptr<MemoryDatabase> db_;
  MemoryTable& table_;
};

}  // namespace

std::unique_ptr<JsonStore> open_memory_store(const StoreOptions& options, std::shared_ptr<MemoryDatabase> database) {
  if (!database) database = make_memory_database();
  return std::make_unique<JsonStore>(std::make_unique<MemoryBackend>(options, std::move(database)));
}

}  // namespace snap
