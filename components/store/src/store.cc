#include "snap/store.h"

#include <cstdio>

#include "store_backend.h"

namespace snap {

std::vector<IndexEntry> index_entries(const std::string& store, const IndexSpec& spec, std::string_view key,
                                      const json& value) {
  std::vector<IndexEntry> entries = spec.indexer(key, value);
  for (const IndexEntry& e : entries) {
    if (e.index_key.empty()) {
      throw StoreError(StoreError::Code::kInvalidArgument, "index \"" + spec.name + "\" of store \"" + store +
                                                               "\": the indexer returned an empty index key for key \"" +
                                                               std::string(key) + "\"");
    }
  }
  return entries;
}

void check_key(const std::string& store, std::string_view key) {
  if (key.empty()) throw StoreError(StoreError::Code::kInvalidArgument, "store \"" + store + "\": empty key");
}

std::string safe_identifier(std::string_view name) {
  constexpr std::size_t kMax = 63;
  std::string out;
  bool changed = false;
  for (char c : name) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') {
      out += c;
    } else if (c >= 'A' && c <= 'Z') {
      out += static_cast<char>(c - 'A' + 'a');
      changed = true;
    } else {
      out += '_';
      changed = true;
    }
  }
  if (out.empty() || !(out[0] >= 'a' && out[0] <= 'z')) {
    out.insert(0, "t_");
    changed = true;
  }
  if (out.size() > kMax) changed = true;
  if (!changed) return out;
  std::uint32_t h = 2166136261u;  // FNV-1a of the original name
  for (unsigned char c : name) {
    h ^= c;
    h *= 16777619u;
  }
  char suffix[10];
  std::snprintf(suffix, sizeof suffix, "_%08x", h);
  if (out.size() > kMax - 9) out.resize(kMax - 9);
  return out + suffix;
}

std::vector<IndexMatch> Index::get(std::string_view index_key) const {
  if (index_key.empty()) {
    throw StoreError(StoreError::Code::kInvalidArgument, "index \"" + name_ + "\": empty index key");
  }
  return backend_->index_get(name_, index_key);
}

JsonStore::JsonStore(std::unique_ptr<StoreBackend> backend) : backend_(std::move(backend)) {}
JsonStore::~JsonStore() = default;

const std::string& JsonStore::name() const { return backend_->name(); }

std::optional<json> JsonStore::get(std::string_view key) const {
  check_key(name(), key);
  return backend_->get(key);
}
void JsonStore::set(std::string_view key, const json& value) {
  check_key(name(), key);
  backend_->set(key, value);
}
bool JsonStore::has(std::string_view key) const {
  check_key(name(), key);
  return backend_->get(key).has_value();
}
bool JsonStore::del(std::string_view key) {
  check_key(name(), key);
  return backend_->del(key);
}
json JsonStore::modify(std::string_view key, const std::function<json(const std::optional<json>&)>& fn) {
  check_key(name(), key);
  return backend_->modify(key, fn);
}
std::vector<std::string> JsonStore::keys(const KeyPage& page) const { return backend_->keys(page); }

void JsonStore::for_each_key(const std::function<bool(const std::string&)>& visit, std::size_t page_size) const {
  KeyPage page{"", page_size};
  while (true) {
    const auto batch = backend_->keys(page);
    for (const auto& k : batch) {
      if (!visit(k)) return;
    }
    if (batch.size() < page_size) return;
    page.after = batch.back();
  }
}

Index JsonStore::index(std::string_view name) const {
  if (!backend_->has_index(name)) {
    throw StoreError(StoreError::Code::kInvalidArgument,
                     "store \"" + this->name() + "\" has no index \"" + std::string(name) + "\"");
  }
  return Index(*backend_, std::string(name));
}

}  // namespace snap
